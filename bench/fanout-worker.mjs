// fanout-worker.mjs: the worker module of bench/fanout-server.mjs --engine pool. Receivers subscribe to the topic
// on whichever worker got them; the sender's messages are published from its worker and reach them all.
import { publish } from 'wslay';

const TOPIC = 'fanout';

// Receivers read too (a connection without onMsgRecv does not), but ignore what they get.
export const connectionOptions = { onMsgRecv() {} };

export function onConnection(conn, info) {
  const sender = new URL(info.request?.url ?? '/', 'http://localhost').searchParams.get('role') === 'sender';
  if (sender) conn.onMsgRecv = (_rsv, opcode, msg) => opcode <= 2 && publish(TOPIC, msg, opcode);
  else conn.subscribe(TOPIC);
}
