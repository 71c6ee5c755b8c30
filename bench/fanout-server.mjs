// fanout-server.mjs: the fan-out servers of `npm run bench -- --only fanout,fanout-pipelined` (issue 15). A
// connection to /?role=sender sends; every other connection receives: each message a sender sends goes to every
// receiver, as it came (binary or text).
// Usage: node bench/fanout-server.mjs --engine E [--port N] [--threads N]
//   publish   our WebSocketServer; receivers subscribe to one topic, one publish() per message (framed once)
//   queuemsg  the same server with a loop of queueMsg over the receivers (framed per receiver)
//   pool      a WorkerPool of --threads N (default 2) workers (bench/fanout-worker.mjs): receivers spread over
//             them, the sender's publish() on its worker reaches the receivers of every worker
//   ws        the ws package (+ bufferutil), a loop over wss.clients with send(), as its README broadcasts
//   wslay-ws  the same ws code with its import changed to wslay/ws
//   wslay-ws-publish  wslay/ws with its pub/sub (not in ws): receivers ws.subscribe(topic), wss.publish() per message
// Prints "listening on http://127.0.0.1:PORT" once ready.
import * as http from 'node:http';
import { fileURLToPath } from 'node:url';

const ENGINES = ['publish', 'queuemsg', 'pool', 'ws', 'wslay-ws', 'wslay-ws-publish'];
const TOPIC = 'fanout';

function parseArgs(argv) {
  const options = { port: 0, engine: null, threads: 2 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) options.port = Number(argv[++i]);
    else if (argv[i] === '--threads' && i + 1 < argv.length) options.threads = Number(argv[++i]);
    else if (argv[i] === '--engine' && ENGINES.includes(argv[i + 1])) options.engine = argv[++i];
    else {
      options.engine = null;
      break;
    }
  }
  if (!options.engine) {
    process.stderr.write(`usage: fanout-server.mjs --engine ${ENGINES.join('|')} [--port N] [--threads N]\n`);
    process.exit(2);
  }
  return options;
}

const isSender = (url) => new URL(url ?? '/', 'http://localhost').searchParams.get('role') === 'sender';
const options = parseArgs(process.argv.slice(2));
const server = http.createServer((_req, res) => res.writeHead(426).end());

if (options.engine === 'wslay-ws-publish') {
  const { WebSocketServer } = await import('wslay/ws');
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (socket, req) => {
    socket.on('error', () => socket.terminate());
    if (!isSender(req.url)) socket.subscribe(TOPIC);
    else socket.on('message', (data, isBinary) => wss.publish(TOPIC, data, isBinary ? 2 : 1));
  });
} else if (options.engine === 'ws' || options.engine === 'wslay-ws') {
  const { WebSocketServer } = await import(options.engine === 'ws' ? 'ws' : 'wslay/ws');
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (socket, req) => {
    socket.on('error', () => socket.terminate());
    if (!isSender(req.url)) return;
    socket.isSender = true;
    socket.on('message', (data, isBinary) => {
      for (const client of wss.clients) {
        if (!client.isSender && client.readyState === 1) client.send(data, { binary: isBinary });
      }
    });
  });
} else if (options.engine === 'pool') {
  const { WorkerPool } = await import('wslay');
  const module = fileURLToPath(new URL('./fanout-worker.mjs', import.meta.url));
  const pool = new WorkerPool({ module, threads: options.threads, assign: 'round-robin' });
  await pool.ready();
  server.on('upgrade', (req, socket, head) => void pool.handleUpgrade(req, socket, head).catch(() => socket.destroy()));
} else {
  const { WebSocketServer, publish } = await import('wslay');
  const receivers = new Set();
  // Receivers read too (a connection without onMsgRecv does not), but ignore what they get.
  const wss = new WebSocketServer({ server, perMessageDeflate: false, onMsgRecv() {} });
  wss.on('connection', (conn, req) => {
    if (!isSender(req.url)) {
      if (options.engine === 'publish') conn.subscribe(TOPIC);
      else {
        receivers.add(conn);
        conn.onClose = () => receivers.delete(conn);
      }
      return;
    }
    conn.onMsgRecv = options.engine === 'publish'
      ? (_rsv, opcode, msg) => opcode <= 2 && publish(TOPIC, msg, opcode)
      : (_rsv, opcode, msg) => {
        if (opcode <= 2) for (const receiver of receivers) receiver.queueMsg(msg, opcode);
      };
  });
}

server.listen(options.port, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
