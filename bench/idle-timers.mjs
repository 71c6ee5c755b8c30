#!/usr/bin/env node
// The CPU cost of many idle connections with idleTimeout and automatic pings (a measurement, not a test): this
// process serves N connections on this library (dist/) and a child process holds the N peers, raw sockets that
// answer every ping with a pong and send nothing else. After all are open, the server's process.cpuUsage() is
// measured over an idle period, once without idleTimeout and once with it (one timer list per thread drives every
// connection's deadline; see native/addon_data.h).
//
//   bash -c 'ulimit -n 20000 && node bench/idle-timers.mjs [--connections 10000] [--seconds 60] [--idle-timeout 20]'
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

if (process.argv.includes('--peers')) {
  // The child: N raw peers. Each answers a ping (server frames are unmasked) with a masked pong.
  const port = arg('port', 0);
  const count = arg('connections', 10000);
  let open = 0;
  let pongs = 0;
  const pong = (payload) => {
    const key = crypto.randomBytes(4);
    const masked = Buffer.from(payload);
    for (let i = 0; i < masked.length; i++) masked[i] ^= key[i & 3];
    return Buffer.concat([Buffer.from([0x8a, 0x80 | masked.length]), key, masked]);
  };
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let buf = Buffer.alloc(0);
      let upgraded = false;
      socket.on('error', reject);
      socket.on('connect', () =>
        socket.write(
          `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        ),
      );
      socket.on('data', (chunk) => {
        buf = Buffer.concat([buf, chunk]);
        if (!upgraded) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          upgraded = true;
          buf = buf.subarray(end + 4);
          open++;
          resolve();
        }
        while (buf.length >= 2 && buf.length >= 2 + (buf[1] & 0x7f)) {
          const len = buf[1] & 0x7f;
          if ((buf[0] & 0x0f) === 9) {
            socket.write(pong(buf.subarray(2, 2 + len)));
            pongs++;
          }
          buf = buf.subarray(2 + len);
        }
      });
    });
  for (let i = 0; i < count; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, count - i) }, one));
  }
  process.send({ open });
  process.on('message', (m) => {
    if (m === 'report') process.send({ pongs });
  });
} else {
  const wslay = await import(path.join(root, 'dist', 'index.js'));
  const { handleUpgrade } = wslay.default ?? wslay;
  const count = arg('connections', 10000);
  const seconds = arg('seconds', 60);
  const idleTimeout = arg('idle-timeout', 20);

  async function run(options) {
    let open = 0;
    let closed = 0;
    const server = http.createServer();
    server.on('upgrade', (req, socket, head) => {
      handleUpgrade(req, socket, head, { ...options, onMsgRecv() {}, onClose: () => closed++ });
      open++;
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--peers', '--port',
      String(server.address().port), '--connections', String(count)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const message = () => new Promise((r) => child.once('message', r));
    await message();
    await sleep(2000); // the last handshakes settle
    const before = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await sleep(seconds * 1000);
    const used = process.cpuUsage(before);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const closedWhileIdle = closed;
    child.send('report');
    const { pongs } = await message();
    child.kill();
    await new Promise((r) => child.once('exit', r));
    await sleep(500);
    server.close();
    const cpuMs = (used.user + used.system) / 1000;
    return { open, closedWhileIdle, pongs, wall: wall.toFixed(1), cpuMs: cpuMs.toFixed(0),
      cpuPercent: ((cpuMs / 1000 / wall) * 100).toFixed(2) };
  }

  const off = await run({});
  console.log(JSON.stringify({ connections: count, idleTimeout: 'off', ...off }));
  const on = await run({ idleTimeout });
  console.log(JSON.stringify({ connections: count, idleTimeout, sendPingsAutomatically: true, ...on }));
  process.exit(0);
}
