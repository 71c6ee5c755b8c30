#!/usr/bin/env node
// Memory that peers can make a server hold with messages they never finish (a measurement, not a test): a server
// process on this library (dist/, or the addon named by WSLAY_ADDON_PATH, to measure another build) and, in this
// process, raw clients that
//   bomb:  each send the first fragment of a permessage-deflate bomb (zeros, RSV1, not final) and nothing more;
//   flood: send one message of 1-byte fragments that never ends.
// Prints the server's RSS before and after (from /proc), the connections it failed, and for the flood the bytes
// held per byte on the wire.
//
//   node bench/receive-memory.mjs [--connections 1000] [--bomb-mib 60] [--fragments 131071] [--only bomb|flood]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

if (process.argv.includes('--serve')) {
  const wslay = await import(path.join(root, 'dist', 'index.js'));
  const { handleUpgrade } = wslay.default ?? wslay;
  const server = http.createServer();
  let closed = 0;
  const codes = {};
  server.on('upgrade', (req, socket, head) => {
    handleUpgrade(req, socket, head, {
      perMessageDeflate: true,
      onMsgRecv(rsv, opcode, msg) {
        if (opcode === 1 || opcode === 2) this.queueMsg(msg, opcode);
      },
      onClose(code) {
        closed++;
        codes[code] = (codes[code] ?? 0) + 1;
      },
    });
  });
  process.on('SIGUSR2', () => {
    let budget; // undefined for a build without one
    try {
      budget = wslay.getReceiveBudget();
    } catch {}
    process.stdout.write(`stats ${JSON.stringify({ closed, codes, budget })}\n`);
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`listening on ${server.address().port}\n`));
} else {
  await main();
}

function startServer() {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const port = new Promise((resolve) => {
    const poll = setInterval(() => {
      const m = /listening on (\d+)/.exec(out);
      if (m) {
        clearInterval(poll);
        resolve(Number(m[1]));
      }
    }, 20);
  });
  const rss = () => Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))[1]) * 1024;
  const stats = async () => {
    const before = out.length;
    child.kill('SIGUSR2');
    for (let i = 0; i < 1500 && !/stats .*\n/.test(out.slice(before)); i++) await sleep(20);
    const m = /stats (.*)\n/.exec(out.slice(before));
    return JSON.parse(m?.[1] ?? '{}');
  };
  return { child, port, rss, stats };
}

/** RSS once it has stopped moving (less than 1 MiB over half a second), or after `maxMs`. */
async function settledRss(server, maxMs = 120_000) {
  let last = server.rss();
  for (const started = Date.now(); Date.now() - started < maxMs; ) {
    await sleep(500);
    const now = server.rss();
    if (Math.abs(now - last) < 1024 * 1024) return now;
    last = now;
  }
  return last;
}

function upgrade(port, deflate) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.once('connect', () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: cmVjZWl2ZS1tZW1vcnktIQ==\r\nSec-WebSocket-Version: 13\r\n' +
          (deflate ? 'Sec-WebSocket-Extensions: permessage-deflate\r\n' : '') + '\r\n',
      ),
    );
    let got = '';
    const onData = (chunk) => {
      got += chunk.toString('latin1');
      if (!got.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (!got.startsWith('HTTP/1.1 101')) return reject(new Error('upgrade refused'));
      socket.closeFrames = 0;
      socket.on('data', (c) => c[0] === 0x88 && socket.closeFrames++); // a close frame at a segment's start
      resolve(socket);
    };
    socket.on('data', onData);
  });
}

function frame(opcode, payload, { fin = true, rsv1 = false } = {}) {
  const key = Buffer.from([0x11, 0x22, 0x33, 0x44]);
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode)];
  if (len < 126) head.push(0x80 | len);
  else if (len < 65536) head.push(0x80 | 126, len >> 8, len & 0xff);
  else head.push(0x80 | 127, 0, 0, 0, 0, (len >>> 24) & 0xff, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
  return Buffer.concat([Buffer.from(head), key, masked]);
}

async function bomb(connections, bombMiB) {
  const zeros = zlib.deflateRawSync(Buffer.alloc(bombMiB * 1024 * 1024), { level: 9, flush: zlib.constants.Z_SYNC_FLUSH });
  const fragment = frame(2, zeros.subarray(0, zeros.length - 4), { fin: false, rsv1: true });
  const server = startServer();
  const port = await server.port;
  const sockets = [];
  for (let i = 0; i < connections; i++) sockets.push(await upgrade(port, true));
  const before = await settledRss(server);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, server.rss())), 50);
  for (const s of sockets) {
    s.write(fragment);
    await sleep(2); // let the server keep up; the sampler sees the peak
  }
  // Done when the server has stopped failing connections (it reads and inflates the rest meanwhile).
  // (One poll iteration can take minutes: every fd is readable and each fragment inflates to tens of MiB.)
  let stats = await server.stats();
  for (let last = -1; stats.closed === undefined || stats.closed !== last; ) {
    last = stats.closed ?? -1;
    await sleep(2000);
    stats = await server.stats();
  }
  const after = await settledRss(server);
  clearInterval(sampler);
  peak = Math.max(peak, after);
  console.log(
    `bomb: ${connections} connections, each the first fragment of a ${bombMiB} MiB deflate bomb (${fragment.length} bytes ` +
      `on the wire): server RSS ${mib(before)} before, ${mib(after)} after (peak ${mib(peak)}); ` +
      `connections failed: ${stats.closed} ${JSON.stringify(stats.codes)}; budget ${JSON.stringify(stats.budget)}`,
  );
  for (const s of sockets) s.destroy();
  server.child.kill();
}

async function flood(fragments) {
  const server = startServer();
  const port = await server.port;
  const socket = await upgrade(port, false);
  const one = frame(0, Buffer.from('x'), { fin: false });
  const wire = Buffer.concat([frame(2, Buffer.from('x'), { fin: false }), ...Array.from({ length: fragments - 1 }, () => one)]);
  const before = await settledRss(server);
  socket.write(wire);
  const after = await settledRss(server);
  const stats = await server.stats();
  const held = after - before;
  console.log(
    `flood: ${fragments} 1-byte fragments, never final (${wire.length} bytes on the wire): server RSS ${mib(before)} ` +
      `before, ${mib(after)} after: ${mib(held)} held, ${(held / wire.length).toFixed(2)} bytes per byte on the wire` +
      (stats.budget ? `; budget used ${stats.budget.used} bytes (${(stats.budget.used / wire.length).toFixed(2)} per byte)` : '') +
      `; connections failed: ${stats.closed}`,
  );
  socket.destroy();
  server.child.kill();
}

async function main() {
  const only = arg('only', '');
  if (only !== 'flood') await bomb(Number(arg('connections', 1000)), Number(arg('bomb-mib', 60)));
  if (only !== 'bomb') await flood(Number(arg('fragments', 131071)));
}
