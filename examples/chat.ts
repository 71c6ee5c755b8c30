// Chat rooms over pub/sub topics: each room is a topic; a message is published once and framed once for everyone
// in the room. Connect to ws://127.0.0.1:9001/?room=lobby&name=ann; send text to talk, "/join ROOM" to move.
// With REDIS_URL set (and ioredis installed) rooms span every process bridged to that Redis.
//
//   node dist/examples/chat.js [--port 9001]      (npm run example:chat; PORT=… works too)
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { handleUpgrade, Opcode, publish, subscriberCount, type WebSocketConnection } from 'wslay';
import { RedisBridge } from 'wslay/redis';

const say = (room: string, from: string, text: string): number =>
  publish(`room:${room}`, JSON.stringify({ room, from, text, at: Date.now() }));

const server = http.createServer((_req, res) => res.writeHead(426).end('a WebSocket chat: connect with ws://\n'));

server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
  const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
  const name = (query.get('name') || 'anonymous').slice(0, 32);
  let room = (query.get('room') || 'lobby').slice(0, 32);

  const join = (conn: WebSocketConnection, next: string): void => {
    conn.unsubscribe(`room:${room}`);
    say(room, 'server', `${name} left`);
    room = next;
    conn.subscribe(`room:${room}`);
    say(room, 'server', `${name} joined (${subscriberCount(`room:${room}`)} here)`);
  };

  const conn = handleUpgrade(req, socket as Socket, head, {
    maxRecvSize: 16 * 1024,
    onMsgRecv(_rsv, opcode, msg) {
      if (opcode !== Opcode.TEXT) return;
      const text = msg.toString();
      const command = /^\/join (\S{1,32})$/.exec(text);
      if (command) join(this, command[1]);
      else say(room, name, text);
    },
    onClose() {
      say(room, 'server', `${name} left`); // its subscriptions ended with it
    },
  });
  if (!conn) return;
  conn.subscribe(`room:${room}`);
  say(room, 'server', `${name} joined (${subscriberCount(`room:${room}`)} here)`);
});

async function bridgeToRedis(url: string): Promise<void> {
  const { Redis } = await import('ioredis'); // only with REDIS_URL: ioredis is an optional peer
  // No resend after a reconnect: pub/sub is at most once (a resent PUBLISH might arrive twice).
  const publisher = new Redis(url, { autoResendUnfulfilledCommands: false });
  new RedisBridge({ publisher, subscriber: new Redis(url) });
  console.log(`rooms bridged through ${url}`);
}

const flag = process.argv.indexOf('--port');
const port = Number(flag > 0 ? process.argv[flag + 1] : (process.env.PORT ?? 9001));
const listening = (): void => console.log(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}`);
const start = process.env.REDIS_URL ? bridgeToRedis(process.env.REDIS_URL) : Promise.resolve();
start.then(
  () => server.listen(port, '127.0.0.1', listening),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
