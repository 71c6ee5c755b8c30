// The seed's app.psgi in Node: an HTTP server that does the WebSocket upgrade by hand (with acceptKey), negotiates
// permessage-deflate by hand with node:zlib, and echoes every message with queueMsg / queueMsgEx.
//
//   node dist/examples/echo-server.js [--port 9001] [--unix /path/app.sock]      (npm run example:seed)
//
// One difference from the seed: Compress::Raw::Zlib keeps one inflate and one deflate stream per connection (context
// takeover); node:zlib's synchronous calls start a fresh stream each time, so this server answers with
// server_no_context_takeover and client_no_context_takeover, which RFC 7692 lets a server add on its own.
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import { isUtf8 } from 'node:buffer';

import { acceptKey, Opcode, RSV1, WebSocketConnection } from 'wslay';

import { listen, parseArgs } from './listen.js';

const MAX_SIZE = 2 ** 31 - 1;
const INFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'access-control-allow-origin': String(req.headers.origin ?? '*') });
  res.end();
});

server.on('upgrade', (req: http.IncomingMessage, socket, head: Buffer) => {
  const h = req.headers;
  if ((h.upgrade ?? '').toLowerCase() !== 'websocket' || !/\bupgrade\b/i.test(h.connection ?? '')) {
    socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  if (h['sec-websocket-version'] !== '13' || !h['sec-websocket-key']) {
    const body = 'expecting ws v13 handshake';
    socket.end(`HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    return;
  }
  // As the seed: accept permessage-deflate when offered; offers that demand a smaller server window are declined,
  // since this server cannot honour them (RFC 7692 §7.1.2.1).
  const offers = String(h['sec-websocket-extensions'] ?? '').split(',');
  const deflate = offers.some((o) => /^\s*permessage-deflate\b/.test(o) && !/server_max_window_bits/.test(o));
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      'connection: upgrade',
      'upgrade: websocket',
      ...(deflate ? ['sec-websocket-extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover'] : []),
      `sec-websocket-accept: ${acceptKey(h['sec-websocket-key'])}`,
      '',
      '',
    ].join('\r\n'),
  );
  new WebSocketConnection({
    socket: socket as import('node:net').Socket,
    head,
    maxRecvSize: MAX_SIZE,
    allowedRsv: deflate ? RSV1 : 0,
    onMsgRecv(rsv, opcode, msg) {
      if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) return; // wslay already answered pings
      if (!(rsv & RSV1) || !deflate) {
        this.queueMsg(msg, opcode); // plain echo
        return;
      }
      let out: Buffer;
      try {
        out = zlib.inflateRawSync(Buffer.concat([msg, INFLATE_TAIL]), {
          finishFlush: zlib.constants.Z_SYNC_FLUSH,
          maxOutputLength: MAX_SIZE,
        });
      } catch {
        this.close(1007, 'bad deflate data');
        return;
      }
      // wslay skips the UTF-8 check of compressed text, so it is done here, after inflating.
      if (opcode === Opcode.TEXT && !isUtf8(out)) {
        this.close(1007);
        return;
      }
      const compressed = zlib.deflateRawSync(out, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      this.queueMsgEx(compressed.subarray(0, compressed.length - 4), opcode); // cut the deflate tail
    },
  });
});

listen(server, parseArgs());
