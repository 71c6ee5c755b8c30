// The echo server `npm start` runs: handleUpgrade does the handshake, permessage-deflate runs natively in C++.
//
//   node dist/examples/echo-server-helpers.js [--port 9001] [--unix /path/app.sock] [--tls-cert F --tls-key F]
//
// With a certificate and key (or TLS_CERT / TLS_KEY) it serves https and wss: the connections run on the stream
// transport, through Node's TLSSocket.
// Plain HTTP requests get the demo page (examples/public/index.html) at `/`. A WebSocket request for `/?deflate=0`
// gets no permessage-deflate: browsers always offer it, so that is how the page's compression toggle turns it off.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';

import { handleUpgrade, type HandleUpgradeOptions, Opcode, type WebSocketConnection } from 'wslay';

import { createServer, listen, parseArgs } from './listen.js';

const page = path.join(__dirname, '..', '..', 'examples', 'public', 'index.html');

const args = parseArgs();
const server = createServer(args, (req, res) => {
  if ((req.url === '/' || req.url === '/index.html') && fs.existsSync(page)) {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    fs.createReadStream(page).pipe(res);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' });
  res.end('not found\n');
});

const echo: HandleUpgradeOptions = {
  maxRecvSize: 64 * 1024 * 1024,
  transport: args.transport,
  onMsgRecv(_rsv, opcode, msg) {
    if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode);
  },
  onClose() {
    open.delete(this);
  },
};
const open = new Set<WebSocketConnection>();

server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  // ?deflate=0 turns permessage-deflate off (the query is parsed only when there is one).
  const url = req.url ?? '/';
  const deflate = !url.includes('?') || new URL(url, 'http://localhost').searchParams.get('deflate') !== '0';
  try {
    const connection = handleUpgrade(req, socket, head, { ...echo, perMessageDeflate: deflate });
    if (connection) open.add(connection);
  } catch (err) {
    socket.destroy();
    console.error('upgrade failed:', err);
  }
});

listen(server, args);

const shutdown = (): void => {
  for (const connection of open) connection.close(1001);
  server.close();
  setTimeout(() => process.exit(0), 200).unref();
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
