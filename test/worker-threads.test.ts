// Connections served inside worker_threads (the addon is context-aware): echo works, two workers at once each
// with their own connections, a worker exits on its own (code 0) once its server and connections are closed, and
// a worker terminated with a connection open takes it down without harming the process. Each scenario runs in a
// child process that hosts the workers, so a crash at worker teardown fails one test instead of the test runner.
import { describe, expect, it } from 'vitest';

import { lastJson, runNode, writeScript, wsPath } from './helpers/child.js';

const WORKER = `
const http = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { WebSocketConnection, acceptKey } = require('./index.js');
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Accept: ' + acceptKey(req.headers['sec-websocket-key']) + '\\r\\n\\r\\n');
  new WebSocketConnection({
    socket, head,
    onMsgRecv(rsv, opcode, msg) { this.queueMsg(workerData.name + ': ' + msg, opcode); },
    onClose(code) { parentPort.postMessage({ closed: code }); },
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (m) => {
  if (m === 'stop') {
    server.close();
    parentPort.close(); // nothing else keeps the worker's loop alive: it must exit on its own
  }
});
`;

// argv: scenario, then 'main-too' to load the addon on the main thread as well.
const HOST = `
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const WebSocket = require(${JSON.stringify(wsPath)});
const [scenario, mainToo] = process.argv.slice(2);
if (mainToo === 'main-too') require('./index.js');
const out = { scenario };
setTimeout(() => { console.log(JSON.stringify({ ...out, timedOut: true })); process.exit(3); }, 15000).unref();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startWorker(name) {
  const worker = new Worker(path.join(__dirname, 'worker-echo.js'), { workerData: { name } });
  const state = { worker, closes: [], errors: [] };
  state.exited = new Promise((r) => worker.once('exit', r));
  worker.on('error', (e) => state.errors.push(String(e)));
  state.port = new Promise((resolve) => worker.on('message', (m) => (m.port ? resolve(m.port) : state.closes.push(m.closed))));
  return state;
}
async function connect(port) {
  const ws = new WebSocket('ws://127.0.0.1:' + port + '/', { perMessageDeflate: false });
  ws.on('error', () => {});
  ws.closed = new Promise((r) => ws.once('close', (code) => r(code)));
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  return ws;
}
function echo(ws, text) {
  return new Promise((r) => { ws.once('message', (d) => r(d.toString())); ws.send(text); });
}

const scenarios = {
  async single() {
    const w = startWorker('w1');
    const ws = await connect(await w.port);
    out.replies = [await echo(ws, 'hello'), await echo(ws, 'again')];
    ws.close(1000);
    out.clientClose = await ws.closed;
    for (let i = 0; i < 200 && w.closes.length === 0; i++) await sleep(10);
    out.workerCloses = w.closes;
    w.worker.postMessage('stop');
    out.exitCode = await w.exited;
    out.errors = w.errors;
  },
  async two() {
    const a = startWorker('A');
    const b = startWorker('B');
    const [pa, pb] = await Promise.all([a.port, b.port]);
    const clients = await Promise.all([connect(pa), connect(pa), connect(pb), connect(pb)]);
    out.replies = await Promise.all(clients.map((ws, i) => echo(ws, 'msg ' + i)));
    out.more = await Promise.all(clients.map((ws, i) => echo(ws, 'x' + i)));
    for (const ws of clients) ws.close(1000);
    out.clientCloses = await Promise.all(clients.map((ws) => ws.closed));
    for (let i = 0; i < 200 && a.closes.length + b.closes.length < 4; i++) await sleep(10);
    out.workerCloses = [...a.closes, ...b.closes];
    a.worker.postMessage('stop');
    b.worker.postMessage('stop');
    out.exitCodes = await Promise.all([a.exited, b.exited]);
  },
  async terminate() {
    const w = startWorker('doomed');
    const ws = await connect(await w.port);
    out.reply = await echo(ws, 'before');
    out.terminateCode = await w.worker.terminate();
    out.clientClose = await ws.closed;
    out.workerCloses = w.closes;
    const again = startWorker('after');
    const ws2 = await connect(await again.port);
    out.replyAfter = await echo(ws2, 'still fine');
    ws2.close(1000);
    await ws2.closed;
    again.worker.postMessage('stop');
    out.exitCodeAfter = await again.exited;
  },
};
scenarios[scenario]().then(() => console.log(JSON.stringify(out)));
`;

interface HostOut {
  timedOut?: boolean;
  [key: string]: unknown;
}

async function host(scenario: string, mainToo: boolean): Promise<HostOut> {
  await writeScript('worker-echo.js', WORKER);
  const { result } = runNode(await writeScript('worker-host.js', HOST), {
    args: [scenario, mainToo ? 'main-too' : 'worker-only'],
  });
  const res = await result;
  // A crash at worker teardown shows here as a signal (SIGSEGV) instead of exit code 0.
  expect({ code: res.code, signal: res.signal }, res.stderr).toEqual({ code: 0, signal: null });
  const out = lastJson<HostOut>(res);
  expect(out.timedOut).toBeUndefined();
  return out;
}

describe('worker_threads', () => {
  // Bug: with the addon loaded only by the worker, the process segfaults when the worker exits (see report).
  it('serves a connection in a worker that exits cleanly; addon loaded only in the worker', async () => {
    const out = await host('single', false);
    expect(out.replies).toEqual(['w1: hello', 'w1: again']);
    expect(out.exitCode).toBe(0);
  });

  it('serves a connection in a worker that exits cleanly (code 0); addon loaded on the main thread too', async () => {
    const out = await host('single', true);
    expect(out.replies).toEqual(['w1: hello', 'w1: again']);
    expect(out.clientClose).toBe(1000);
    expect(out.workerCloses).toEqual([1000]);
    expect(out.exitCode).toBe(0);
    expect(out.errors).toEqual([]);
  });

  it('runs two workers at once, each echoing on its own connections, both exit with code 0', async () => {
    const out = await host('two', true);
    expect(out.replies).toEqual(['A: msg 0', 'A: msg 1', 'B: msg 2', 'B: msg 3']);
    expect(out.more).toEqual(['A: x0', 'A: x1', 'B: x2', 'B: x3']);
    expect(out.clientCloses).toEqual([1000, 1000, 1000, 1000]);
    expect(out.workerCloses).toEqual([1000, 1000, 1000, 1000]);
    expect(out.exitCodes).toEqual([0, 0]);
  });

  it('terminate() with a connection open: the peer sees it end, no onClose runs, the process carries on', async () => {
    const out = await host('terminate', true);
    expect(out.reply).toBe('doomed: before');
    expect(out.terminateCode).toBe(1);
    // A close frame where one can still be written (the binding sends 1011; 1001 would say "going away"), else 1006.
    expect([1001, 1011, 1006]).toContain(out.clientClose);
    expect(out.workerCloses).toEqual([]);
    expect(out.replyAfter).toBe('after: still fine');
    expect(out.exitCodeAfter).toBe(0);
  });
});
