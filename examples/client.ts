// A client: connects to an echo server, sends a text and a binary message, prints the echoes, closes.
//
//   node dist/examples/client.js [ws://127.0.0.1:9001/]      (or PORT=N: ws://127.0.0.1:N/, as the servers take it)
import { connect, Opcode } from 'wslay';

async function main(): Promise<void> {
  const url = process.argv[2] ?? `ws://127.0.0.1:${process.env.PORT ?? 9001}/`;
  const conn = await connect(url, { perMessageDeflate: true });
  console.log(`connected to ${url} (extensions: ${conn.extensions || 'none'})`);
  let echoes = 0;
  conn.onMsgRecv = (_rsv, opcode, msg) => {
    if (opcode === Opcode.TEXT) console.log(`text echo: ${msg.toString('utf8')}`);
    else if (opcode === Opcode.BINARY) console.log(`binary echo: ${msg.length} bytes`);
    if (++echoes === 2) conn.close(1000, 'done');
  };
  conn.onClose = (code, info) => console.log(`closed: ${code} (clean: ${info.wasClean})`);
  conn.queueMsg('hello from wslay ✓');
  conn.queueMsg(Buffer.alloc(4096, 1), Opcode.BINARY);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
