// A callback that throws behaves like a throwing EventEmitter listener: the error reaches process
// 'uncaughtException' (and, with no listener, ends the process as usual); the connection stays consistent and
// keeps working. Run in child processes so the test runner's own handlers stay out of the way.
import { describe, expect, it } from 'vitest';

import { lastJson, runNode, writeScript, wsPath } from './helpers/child.js';

const COMMON = `
const http = require('node:http');
const { WebSocketConnection, acceptKey } = require('./index.js');
const WebSocket = require(${JSON.stringify(wsPath)});
const out = { caught: [], echoed: [], serverCloses: [] };
function serve(options, ready) {
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => {
    socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
      'Sec-WebSocket-Accept: ' + acceptKey(req.headers['sec-websocket-key']) + '\\r\\n\\r\\n');
    new WebSocketConnection({ socket, head, ...options });
  });
  server.listen(0, '127.0.0.1', () => ready(server));
}
setTimeout(() => { console.log(JSON.stringify({ ...out, timedOut: true })); process.exit(3); }, 8000).unref();
`;

const WITH_LISTENER = `${COMMON}
process.on('uncaughtException', (err) => out.caught.push(err.message));
serve({
  onMsgRecv(rsv, opcode, msg) {
    if (msg.toString() === 'boom') throw new Error('boom from onMsgRecv');
    this.queueMsg(msg, opcode);
  },
  onClose(code) {
    out.serverCloses.push(code);
    throw new Error('boom from onClose');
  },
}, (server) => {
  const ws = new WebSocket('ws://127.0.0.1:' + server.address().port + '/', { perMessageDeflate: false });
  ws.on('open', () => { for (const m of ['one', 'boom', 'two', 'boom', 'three']) ws.send(m); });
  ws.on('message', (data) => {
    out.echoed.push(data.toString());
    if (out.echoed.length === 3) ws.close(1000);
  });
  ws.on('close', (code) => {
    out.clientClose = code;
    server.close();
    setTimeout(() => console.log(JSON.stringify(out)), 100);
  });
});
`;

const WITHOUT_LISTENER = `${COMMON}
serve({
  onMsgRecv() { throw new Error('unhandled boom from onMsgRecv'); },
}, (server) => {
  const ws = new WebSocket('ws://127.0.0.1:' + server.address().port + '/', { perMessageDeflate: false });
  ws.on('open', () => ws.send('x'));
});
`;

// A source whose returned array throws when read (a getter on an element): the exception must not stay pending in
// the engine, where it broke unrelated calls (readyState, the next handleUpgrade, another connection's onClose).
const THROWING_SOURCE_VALUE = `${COMMON}
const { handleUpgrade } = require('./index.js');
process.on('uncaughtException', (err) => out.caught.push(err.message));
const server = http.createServer();
let first = true;
server.on('upgrade', (req, socket, head) => {
  const which = first ? 'first' : 'second';
  const conn = handleUpgrade(req, socket, head, {
    onClose(code) { out.serverCloses.push(which + ' ' + code); },
    onMsgRecv() {}, // without one the connection does not read (and would not see the client's close)
  });
  if (!first) return;
  first = false;
  conn.queueFragmented(() => {
    const pair = [];
    Object.defineProperty(pair, 0, { get() { throw new Error('boom from the source value'); } });
    return pair;
  });
  setTimeout(() => {
    try { out.readyState = conn.readyState; } catch (err) { out.readyState = 'threw ' + err.message; }
  }, 300);
});
server.listen(0, '127.0.0.1', () => {
  const url = 'ws://127.0.0.1:' + server.address().port + '/';
  const ws = new WebSocket(url);
  ws.on('close', (code) => { out.clientClose = code; });
  setTimeout(() => {
    const ws2 = new WebSocket(url);
    ws2.on('open', () => { ws2.send('x'); ws2.close(1000); });
    ws2.on('close', (code) => {
      out.secondClientClose = code;
      server.close();
      setTimeout(() => console.log(JSON.stringify(out)), 100);
    });
  }, 500);
});
`;

describe('a fragmented source whose value throws when read', () => {
  it('fails its connection with 1011, reaches uncaughtException and leaves nothing pending', async () => {
    const { result } = runNode(await writeScript('throwing-source-value.js', THROWING_SOURCE_VALUE));
    const res = await result;
    expect(res.code, res.stderr).toBe(0);
    const out = lastJson<{
      caught: string[];
      serverCloses: string[];
      clientClose?: number;
      secondClientClose?: number;
      readyState?: string;
      timedOut?: boolean;
    }>(res);
    expect(out.timedOut).toBeUndefined();
    expect(out.caught).toEqual(['boom from the source value']);
    expect(out.clientClose).toBe(1011);
    expect(out.readyState).toBe('closed');
    // The next upgrade and the other connection's onClose work as usual.
    expect(out.secondClientClose).toBe(1000);
    expect(out.serverCloses).toEqual(['first 1011', 'second 1000']);
  });
});

describe('a throwing callback', () => {
  it('reaches uncaughtException; the connection keeps echoing and closes normally', async () => {
    const { result } = runNode(await writeScript('throw-with-listener.js', WITH_LISTENER));
    const res = await result;
    expect(res.code, res.stderr).toBe(0);
    const out = lastJson<{
      caught: string[];
      echoed: string[];
      serverCloses: number[];
      clientClose: number;
      timedOut?: boolean;
    }>(res);
    expect(out.timedOut).toBeUndefined();
    expect(out.caught).toEqual(['boom from onMsgRecv', 'boom from onMsgRecv', 'boom from onClose']);
    expect(out.echoed).toEqual(['one', 'two', 'three']); // in order, none lost after a throw in the same read
    expect(out.clientClose).toBe(1000);
    expect(out.serverCloses).toEqual([1000]); // onClose once, even though it threw
  });

  it('without an uncaughtException listener, ends the process like any uncaught error', async () => {
    const { result } = runNode(await writeScript('throw-without-listener.js', WITHOUT_LISTENER));
    const res = await result;
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('unhandled boom from onMsgRecv');
  });
});
