// idleTimeout at scale: 10,000 real idle peers, in two child processes (the server's connections in one, the peers
// in the other, each with RLIMIT_NOFILE raised). Half the peers answer pings, half say nothing at all. One timer
// list per thread must ping every connection once, end exactly the silent ones (1006, timedOut) and keep the live
// ones open. The CPU cost is measured by bench/idle-timers.mjs, not asserted here.
import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';

import { runNode, writeScript } from './helpers/child.js';
import { waitFor } from './helpers/wait.js';

const COUNT = 10_000;
const IDLE_SECONDS = 3;

const SERVER = `
const http = require('node:http');
const { handleUpgrade } = require('./index.js');
const out = { open: 0, timedOut: 0, other: [] };
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  handleUpgrade(req, socket, head, {
    idleTimeout: ${IDLE_SECONDS},
    onMsgRecv() {},
    onClose(code, info) {
      if (code === 1006 && info.timedOut) out.timedOut++;
      else out.other.push(code);
    },
  });
  out.open++;
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.stdin.on('data', () => {
  console.log(JSON.stringify(out));
  process.exit(0);
});
`;

// Even-numbered peers answer each ping with a masked pong; odd ones never send a byte after the handshake.
const PEERS = `
const net = require('node:net');
const crypto = require('node:crypto');
const [port, count] = process.argv.slice(2).map(Number);
const peers = [];
function connect(i) {
  return new Promise((resolve, reject) => {
    const live = i % 2 === 0;
    const peer = { live, pings: 0, ended: false };
    peers.push(peer);
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', () => {});
    socket.on('close', () => { peer.ended = true; if (!upgraded) reject(new Error('refused')); });
    socket.on('connect', () => socket.write('GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
      'Sec-WebSocket-Key: ' + crypto.randomBytes(16).toString('base64') + '\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n'));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (!upgraded) {
        const end = buf.indexOf('\\r\\n\\r\\n');
        if (end < 0) return;
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve();
      }
      while (buf.length >= 2 && buf.length >= 2 + (buf[1] & 0x7f)) {
        const len = buf[1] & 0x7f;
        if ((buf[0] & 0x0f) === 9) {
          peer.pings++;
          if (live) socket.write(Buffer.from([0x8a, 0x80, 1, 2, 3, 4]));
        }
        buf = buf.subarray(2 + len);
      }
    });
  });
}
(async () => {
  for (let i = 0; i < count; i += 250) {
    await Promise.all(Array.from({ length: Math.min(250, count - i) }, (_, k) => connect(i + k)));
  }
  console.log(JSON.stringify({ connected: peers.length }));
})();
process.stdin.on('data', () => {
  const silent = peers.filter((p) => !p.live);
  const live = peers.filter((p) => p.live);
  console.log(JSON.stringify({
    silentEnded: silent.filter((p) => p.ended).length,
    silentPings: [...new Set(silent.map((p) => p.pings))],
    liveEnded: live.filter((p) => p.ended).length,
    livePinged: live.filter((p) => p.pings > 0).length,
  }));
  process.exit(0);
});
`;

function lines(child: ChildProcess): unknown[] {
  const parsed: unknown[] = [];
  let pending = '';
  child.stdout!.on('data', (d: Buffer) => {
    pending += d.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        parsed.push(JSON.parse(line));
      } catch {
        // not ours
      }
    }
  });
  return parsed;
}

describe('idleTimeout with 10,000 idle connections', () => {
  it('pings every connection, ends exactly the silent half (1006, timedOut), keeps the live half', async () => {
    const serverRun = runNode(await writeScript('idle-10k-server.js', SERVER), {
      maxFds: COUNT + 200,
      timeout: 90_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const serverOut = lines(serverRun.child);
    await waitFor(() => serverOut.length > 0, 10_000, 'the server to listen');
    const { port } = serverOut[0] as { port: number };
    const peersRun = runNode(await writeScript('idle-10k-peers.js', PEERS), {
      args: [String(port), String(COUNT)],
      maxFds: COUNT + 200,
      timeout: 90_000,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const peersOut = lines(peersRun.child);
    await waitFor(() => peersOut.length > 0, 60_000, 'all peers to connect');
    expect(peersOut[0]).toEqual({ connected: COUNT });
    // Two idle periods after the last handshake: every silent peer has had its ping and its deadline.
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 2000 + 1000));
    serverRun.child.stdin!.write('report\n');
    peersRun.child.stdin!.write('report\n');
    await Promise.all([serverRun.result, peersRun.result]);
    expect(serverOut[1]).toEqual({ open: COUNT, timedOut: COUNT / 2, other: [] });
    expect(peersOut[1]).toEqual({ silentEnded: COUNT / 2, silentPings: [1], liveEnded: 0, livePinged: COUNT / 2 });
  }, 120_000);
});
