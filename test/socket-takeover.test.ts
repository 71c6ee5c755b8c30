// Taking a net.Socket over (new WebSocketConnection({ socket })) when it cannot be taken: whether that is found at
// once (nothing pending) or after waiting for the 101 response to flush, the connection ends the same way, with one
// onClose(1006) and nothing thrown from a socket callback. Real sockets; EMFILE (no descriptor left for our copy)
// comes from a child process with a lowered RLIMIT_NOFILE whose descriptors are used up on purpose.
import * as http from 'node:http';
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { WebSocketConnection, type CloseInfo } from '../src/index.js';
import { lastJson, runNode, writeScript } from './helpers/child.js';
import { captureUncaught } from './helpers/uncaught.js';
import { waitFor, within } from './helpers/wait.js';

let server: http.Server | undefined;
const sockets: net.Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const UPGRADE_REQUEST =
  'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

const EMFILE_SCRIPT = `
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const { WebSocketConnection, acceptKey } = require('./index.js');
// 'now': the 101 has flushed, so the takeover runs inside the constructor; 'later': it waits for the flush.
const mode = process.argv[2];
const out = { caught: [], closes: [] };
process.on('uncaughtException', (err) => out.caught.push(err.message));
let filler = [];
function useUpFds() {
  try { for (;;) filler.push(fs.openSync('/dev/null', 'r')); } catch (err) { if (err.code !== 'EMFILE') throw err; }
}
function freeFds() { for (const fd of filler) fs.closeSync(fd); filler = []; }
function report() { freeFds(); console.log(JSON.stringify(out)); process.exit(0); }
setTimeout(() => { out.timedOut = true; report(); }, 3000).unref();
let peer;
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  const response = 'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Accept: ' + acceptKey(req.headers['sec-websocket-key']) + '\\r\\n\\r\\n';
  const takeOver = () => {
    useUpFds();
    try {
      const conn = new WebSocketConnection({ socket, head, onClose(code, info) {
        out.closes.push({ code, errno: info.errno });
        freeFds();
      } });
      out.stateAfterConstructor = conn.readyState;
    } catch (err) {
      out.constructorThrew = err.message;
      freeFds();
    }
  };
  if (mode === 'now') {
    socket.write(response, () => {
      takeOver();
      peer.resume();
    });
  } else {
    socket.write(response + ' '.repeat(8 * 1024 * 1024)); // more than the socket buffers: the peer does not read yet
    takeOver();
    peer.resume(); // the write flushes, then the takeover needs a descriptor for its copy
  }
});
server.listen(0, '127.0.0.1', () => {
  peer = net.connect(server.address().port, '127.0.0.1', () => peer.write(
    'GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n'));
  peer.pause();
  peer.on('data', () => {});
  peer.on('error', () => {});
  peer.on('close', () => { out.peerClosed = true; server.close(); setTimeout(report, 100); });
});
`;

interface EmfileOutcome {
  caught: string[];
  closes: Array<{ code: number; errno?: number }>;
  constructorThrew?: string;
  stateAfterConstructor?: string;
  peerClosed?: boolean;
  timedOut?: boolean;
}

describe('a socket takeover that fails', () => {
  for (const mode of ['now', 'later'] as const) {
    it(`with EMFILE for our copy (${mode === 'now' ? 'at once' : 'after the 101 flushed'}): onClose(1006) once, no throw`, async () => {
      const script = await writeScript('takeover-emfile.js', EMFILE_SCRIPT);
      const res = await runNode(script, { args: [mode], maxFds: 128 }).result;
      expect(res.code, res.stderr).toBe(0);
      const out = lastJson<EmfileOutcome>(res);
      expect(out.timedOut).toBeUndefined();
      expect(out.constructorThrew).toBeUndefined();
      expect(out.caught).toEqual([]);
      expect(out.stateAfterConstructor).toBe('connecting');
      expect(out.closes).toEqual([{ code: 1006, errno: 24 }]); // EMFILE
      expect(out.peerClosed).toBe(true); // the peer's TCP connection ended
    });
  }

  it('closed while the 101 response is still flushing: onClose once, the late takeover neither attaches nor throws', async () => {
    const uncaught = captureUncaught();
    try {
      const closes: Array<{ code: number; info: CloseInfo }> = [];
      server = http.createServer();
      server.on('upgrade', (_req, socket: net.Socket) => {
        // Pending writes the peer does not read yet: the takeover waits for them.
        socket.write(Buffer.alloc(8 * 1024 * 1024, 0x20));
        const conn = new WebSocketConnection({
          socket,
          closeTimeout: 100,
          onClose: (code, info) => void closes.push({ code, info }),
        });
        conn.close(1000);
      });
      await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
      const peer = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1', () => peer.write(UPGRADE_REQUEST));
      sockets.push(peer);
      peer.pause();
      await waitFor(() => closes.length > 0, 5000, 'onClose after the close timeout');
      expect(closes[0]!.code).toBe(1006);
      expect(closes[0]!.info.timedOut).toBe(true);
      // Now let the pending bytes through: the takeover must not go on with a closed connection.
      const ended = new Promise<void>((resolve) => peer.on('close', () => resolve()));
      peer.on('data', () => {});
      peer.resume();
      await within(ended, 5000, 'the peer to see the connection end');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(closes.length).toBe(1);
      expect(uncaught.errors).toEqual([]);
    } finally {
      uncaught.restore();
    }
  });
});
