// The echo server `npm start` runs: handleUpgrade does the handshake, permessage-deflate runs natively in C++.
//
//   node dist/examples/echo-server-helpers.js [--port 9001] [--unix /path/app.sock] [--tls-cert F --tls-key F]
//
// With a certificate and key (or TLS_CERT / TLS_KEY) it serves https and wss: the connections run on the stream
// transport, through Node's TLSSocket.
// Plain HTTP requests get the demo page (examples/public/index.html) at `/`. A WebSocket request for `/?deflate=0`
// gets no permessage-deflate: browsers always offer it, so that is how the page's compression toggle turns it off.
// The page's other two sockets use topics: `/chat?room=R&name=N` joins the chat room R (topic `room:R`), and
// `/stats` subscribes to the server figures (topic `stats`) published once a second for the live chart.
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type * as net from 'node:net';
import * as path from 'node:path';

import { handleUpgrade, type HandleUpgradeOptions, Opcode, publish, type WebSocketConnection } from 'wslay';

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

// What the live panel shows: messages and payload bytes in and out of every connection, counted here.
const traffic = { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
const received = (msg: Buffer): void => {
  traffic.messagesIn++;
  traffic.bytesIn += msg.length;
};
const sent = (count: number, bytes: number): void => {
  traffic.messagesOut += count;
  traffic.bytesOut += count * bytes;
};

const echo: HandleUpgradeOptions = {
  maxRecvSize: 64 * 1024 * 1024,
  transport: args.transport,
  onMsgRecv(_rsv, opcode, msg) {
    if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) return;
    received(msg);
    this.queueMsg(msg, opcode);
    sent(1, msg.length);
  },
  onClose() {
    open.delete(this);
  },
};
const open = new Set<WebSocketConnection>();

/** Publishes to everyone in `room` (one frame for all of them). */
function say(room: string, from: string, text: string): void {
  const line = JSON.stringify({ room, from, text });
  sent(publish(`room:${room}`, line), Buffer.byteLength(line));
}

function chat(room: string, name: string): HandleUpgradeOptions {
  return {
    maxRecvSize: 16 * 1024,
    transport: args.transport,
    onMsgRecv(_rsv, opcode, msg) {
      if (opcode !== Opcode.TEXT) return;
      received(msg);
      say(room, name, msg.toString());
    },
    onClose() {
      open.delete(this);
      say(room, 'server', `${name} left`); // its subscription ended with it
    },
  };
}

// Once a second: the figures of the last second, to the `stats` topic. A new subscriber gets the last one at once.
let last = { ...traffic };
let figures = '';
setInterval(() => {
  const perSecond = (k: keyof typeof traffic): number => traffic[k] - last[k];
  figures = JSON.stringify({
    connections: open.size,
    messagesIn: perSecond('messagesIn'),
    messagesOut: perSecond('messagesOut'),
    bytesIn: perSecond('bytesIn'),
    bytesOut: perSecond('bytesOut'),
    rss: process.memoryUsage.rss(),
  });
  last = { ...traffic };
  sent(publish('stats', figures), figures.length);
}, 1000).unref();

server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
  // The path and its query split by hand (a URL object per upgrade shows in connection churn); ?deflate=0 turns
  // permessage-deflate off.
  const target = req.url ?? '/';
  const at = target.indexOf('?');
  const pathname = at < 0 ? target : target.slice(0, at);
  const query = new URLSearchParams(at < 0 ? '' : target.slice(at + 1));
  const deflate = query.get('deflate') !== '0';
  const room = (query.get('room') || 'lobby').slice(0, 32);
  const name = (query.get('name') || 'anonymous').slice(0, 32);
  try {
    // The stats socket ignores what the page sends, but reads (a connection without onMsgRecv does not).
    const stats: HandleUpgradeOptions = { transport: args.transport, onMsgRecv() {}, onClose: echo.onClose };
    const options = pathname === '/chat' ? chat(room, name) : pathname === '/stats' ? stats : echo;
    const connection = handleUpgrade(req, socket, head, { ...options, perMessageDeflate: deflate });
    if (!connection) return;
    open.add(connection);
    if (pathname === '/chat') {
      connection.subscribe(`room:${room}`);
      say(room, 'server', `${name} joined`);
    } else if (pathname === '/stats') {
      connection.subscribe('stats');
      if (figures) connection.queueMsg(figures);
    }
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
