#!/usr/bin/env node
// Soak run (a script, not a test): one echo server process on our binding takes connections opened and closed in
// waves, then millions of echoed messages from the C load client; its descriptor count and RSS are read from /proc
// before, during and after, and printed. It fails (exit 1) when descriptors do not return to the baseline, when RSS
// stays far above it after a GC, or when any wave or echo run reports errors.
//
//   node bench/soak.mjs                                   20,000 connections + 10,000,000 messages (the full run)
//   node bench/soak.mjs --connections 2000 --messages 500000          a short one
//   options: --wave N (connections open at once, 500) --conns N --inflight N --size N (echo load: 50, 10, 64)
//            --deflate (echo with permessage-deflate) --max-seconds N (bound for the whole run, 1800)
//
// Needs `npm run setup` (dist/) and cc for bench/.bin/load-client (built on first use, as `npm run bench` does).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(benchDir, '..');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} needs a number`);
  return value;
}

function readProc(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    fds: fs.readdirSync(`/proc/${pid}/fd`).length,
    rss: Number(/^VmRSS:\s+(\d+)/m.exec(status)[1]) * 1024,
  };
}

const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
// V8's share of RSS: heap growth is JavaScript's, the rest native (our addon, libwslay, zlib, malloc's caches).
const heap = (s) => `V8 heap ${mib(s.heapUsed)} used / ${mib(s.heapTotal)}, external ${mib(s.external)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startServer() {
  const child = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const lines = () => out;
  const port = new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearInterval(poll);
        resolve(Number(m[1]));
      } else if (child.exitCode !== null || Date.now() - started > 15_000) {
        clearInterval(poll);
        reject(new Error('the soak server did not start'));
      }
    }, 20);
  });
  return { child, port, lines };
}

/** Asks the server for a GC and waits for its answer; returns its fds and RSS after that. */
async function settled(server) {
  await sleep(500); // closes in flight finish
  const before = server.lines().length;
  server.child.kill('SIGUSR2');
  for (let i = 0; i < 100 && server.lines().length === before; i++) await sleep(20);
  await sleep(200);
  const m = /gc opened=(\d+) closed=(\d+) heapTotal=(\d+) heapUsed=(\d+) external=(\d+)\n$/.exec(server.lines());
  const [opened, closed, heapTotal, heapUsed, external] = m ? m.slice(1).map(Number) : [NaN, NaN, NaN, NaN, NaN];
  return { ...readProc(server.child.pid), opened, closed, heapTotal, heapUsed, external };
}

const REQUEST = (port) =>
  `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
  'Sec-WebSocket-Key: c29hay1zb2FrLXNvYWstIQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
// A masked close frame with code 1000 (mask 0x01020304), and a masked 5-byte text 'hello'.
const CLOSE = Buffer.from([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
const HELLO = Buffer.from([0x81, 0x85, 1, 2, 3, 4, ...Buffer.from('hello').map((b, i) => b ^ [1, 2, 3, 4][i % 4])]);

/** Opens one connection, upgrades, sends 'hello' and waits for the echo. Resolves with the socket. */
function openOne(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => fail(new Error('connection timed out')), 20_000);
    const fail = (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.on('error', fail);
    socket.once('connect', () => socket.write(REQUEST(port)));
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (!upgraded) {
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!got.subarray(0, 13).toString().startsWith('HTTP/1.1 101')) return fail(new Error('upgrade refused'));
        upgraded = true;
        got = got.subarray(end + 4);
        socket.write(HELLO);
      }
      if (got.length >= 7) {
        if (got[0] !== 0x81 || got[1] !== 5 || got.subarray(2, 7).toString() !== 'hello') return fail(new Error('bad echo'));
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.removeListener('error', fail);
        resolve(socket);
      }
    });
  });
}

/** The closing handshake from the client side; resolves when the server has closed the TCP connection. */
function closeOne(socket) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 20_000);
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.end(CLOSE); // our FIN follows the close frame; the server answers and closes its end
  });
}

function runLoadClient(client, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(client, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), (option('segment', 10) + 30) * 1000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1)));
      } catch {
        reject(new Error(`load-client exited ${code} without a result`));
      }
    });
  });
}

async function soak() {
  const connections = option('connections', 20_000);
  const wave = Math.max(1, option('wave', 500));
  const messages = option('messages', 10_000_000);
  const conns = option('conns', 50);
  const inflight = option('inflight', 10);
  const size = option('size', 64);
  const segment = option('segment', 10);
  const maxSeconds = option('max-seconds', 1800);
  const deflate = process.argv.includes('--deflate');
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) {
    console.error('soak: dist/ is not built: run `npm run setup` first');
    process.exit(1);
  }
  const { buildBenchPrograms } = await import('./lib/build.mjs');
  const { client } = buildBenchPrograms(benchDir);
  if (!client) {
    console.error('soak: bench/.bin/load-client could not be built (cc missing?)');
    process.exit(1);
  }

  const started = Date.now();
  const overBudget = () => (Date.now() - started) / 1000 > maxSeconds;
  const server = startServer();
  // Whatever happens to this process, the server goes with it.
  process.on('exit', () => server.child.exitCode === null && server.child.kill('SIGKILL'));
  const problems = [];
  let peakFds = 0;
  let peakRss = 0;
  let sampler;
  try {
    const port = await server.port;
    sampler = setInterval(() => {
      try {
        const now = readProc(server.child.pid);
        peakFds = Math.max(peakFds, now.fds);
        peakRss = Math.max(peakRss, now.rss);
      } catch {
        // the server is gone; reported below
      }
    }, 250);

    // Warm-up to the high-water marks: one full wave and a short echo run at the full load, so the baseline already
    // holds what V8 and malloc keep after a peak (V8 keeps its grown heap reserved; that is not a leak).
    for (const s of await Promise.all(Array.from({ length: Math.min(wave, connections || wave) }, () => openOne(port)))) {
      await closeOne(s);
    }
    await runLoadClient(client, [
      '--port', String(port), '--conns', String(conns), '--inflight', String(inflight), '--size', String(size),
      '--duration', '1', '--warmup', '0', ...(deflate ? ['--deflate'] : []),
    ]);
    const baseline = await settled(server);
    console.log(`soak: baseline  fds ${baseline.fds}, RSS ${mib(baseline.rss)}, ${heap(baseline)}`);

    // 1. Connection waves: `wave` connections open at once (each upgraded and echoing once), then all closed.
    const waveStart = Date.now();
    let done = 0;
    let failed = 0;
    let waveMaxFds = 0;
    while (done < connections && !overBudget()) {
      const n = Math.min(wave, connections - done);
      const results = await Promise.allSettled(Array.from({ length: n }, () => openOne(port)));
      const open = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      failed += n - open.length;
      waveMaxFds = Math.max(waveMaxFds, readProc(server.child.pid).fds);
      const closedOk = await Promise.all(open.map(closeOne));
      failed += closedOk.filter((ok) => !ok).length;
      done += n;
    }
    const waveSeconds = (Date.now() - waveStart) / 1000;
    const afterWaves = await settled(server);
    console.log(
      `soak: waves    ${done} connections in waves of ${wave} in ${waveSeconds.toFixed(1)} s ` +
        `(${(done / waveSeconds).toFixed(0)}/s), ${failed} failed; server fds peak ${waveMaxFds}; ` +
        `after: fds ${afterWaves.fds}, RSS ${mib(afterWaves.rss)}, ${heap(afterWaves)}; server counted ${afterWaves.opened} opened, ` +
        `${afterWaves.closed} closed`,
    );
    if (failed) problems.push(`${failed} connections failed in the waves`);
    if (done < connections) problems.push(`only ${done} of ${connections} connections before --max-seconds`);

    // 2. Echo load: the C client in segments until the message count is reached.
    const echoStart = Date.now();
    let echoed = 0;
    let echoErrors = 0;
    let serverCpu = 0;
    let rate = 0;
    while (echoed < messages && !overBudget()) {
      // Segments of at most `segment` s, the last one sized by the rate so far so the count is not far overshot.
      const seconds = rate ? Math.min(segment, Math.max(0.5, ((messages - echoed) / rate) * 1.02)) : Math.min(2, segment);
      const r = await runLoadClient(client, [
        '--port', String(port), '--conns', String(conns), '--inflight', String(inflight), '--size', String(size),
        '--duration', seconds.toFixed(2), '--warmup', '0', '--server-pid', String(server.child.pid),
        ...(deflate ? ['--deflate'] : []),
      ]);
      echoed += r.messages;
      rate = r.messages / r.seconds;
      echoErrors += r.errors + r.length_mismatches;
      serverCpu += r.server_cpu_seconds ?? 0;
    }
    const echoSeconds = (Date.now() - echoStart) / 1000;
    const afterEcho = await settled(server);
    console.log(
      `soak: echo     ${echoed} messages of ${size} B on ${conns}×${inflight} in ${echoSeconds.toFixed(1)} s ` +
        `(${(echoed / echoSeconds).toFixed(0)}/s, server CPU ${serverCpu.toFixed(1)} s), ${echoErrors} errors; ` +
        `after: fds ${afterEcho.fds}, RSS ${mib(afterEcho.rss)}, ${heap(afterEcho)}`,
    );
    if (echoErrors) problems.push(`${echoErrors} echo errors`);
    if (echoed < messages) problems.push(`only ${echoed} of ${messages} messages before --max-seconds`);

    const end = await settled(server);
    const growth = end.rss - baseline.rss;
    console.log(
      `soak: end      fds ${end.fds} (baseline ${baseline.fds}, peak ${Math.max(peakFds, waveMaxFds)}), ` +
        `RSS ${mib(end.rss)} (baseline ${mib(baseline.rss)}, peak ${mib(peakRss)}, growth ${mib(growth)}), ` +
        `V8 heap used ${mib(end.heapUsed)} (baseline ${mib(baseline.heapUsed)}); ` +
        `total ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    if (end.fds !== baseline.fds) problems.push(`server fds ${end.fds} ≠ baseline ${baseline.fds}`);
    // Allocators keep some freed memory; what matters is that it does not scale with the work done.
    if (growth > Math.max(32 * 1024 * 1024, baseline.rss * 0.25)) problems.push(`RSS grew by ${mib(growth)}`);
    // Live JavaScript objects (connections kept by someone, callbacks, buffers) would show here first.
    const heapGrowth = end.heapUsed - baseline.heapUsed;
    if (heapGrowth > 8 * 1024 * 1024) problems.push(`the V8 heap in use grew by ${mib(heapGrowth)}`);
    if (end.opened !== end.closed) problems.push(`server has ${end.opened - end.closed} connections not closed`);
  } catch (error) {
    problems.push(error.message);
  } finally {
    clearInterval(sampler);
    server.child.kill('SIGTERM');
    await sleep(200);
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  }
  if (problems.length) {
    console.error(`soak: FAILED: ${problems.join('; ')}`);
    process.exit(1);
  }
  console.log('soak: ok');
}

// --serve: this file is also the server, so the soak needs nothing but itself and dist/.
if (process.argv[2] === '--serve') {
  const http = await import('node:http');
  const { handleUpgrade, Opcode } = await import(path.join(root, 'dist', 'index.js'));
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  let opened = 0;
  let closed = 0;
  server.on('upgrade', (req, socket, head) => {
    const conn = handleUpgrade(req, socket, head, {
      perMessageDeflate: true,
      onMsgRecv(_rsv, opcode, msg) {
        if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode);
      },
      onClose() {
        closed++;
      },
    });
    if (conn) opened++;
  });
  // SIGUSR2: a full GC, then the counters, so the parent measures memory that is really held.
  process.on('SIGUSR2', () => {
    globalThis.gc?.();
    globalThis.gc?.();
    const m = process.memoryUsage();
    console.log(`gc opened=${opened} closed=${closed} heapTotal=${m.heapTotal} heapUsed=${m.heapUsed} external=${m.external}`);
  });
  process.on('SIGTERM', () => process.exit(0));
  server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
} else {
  await soak();
}
