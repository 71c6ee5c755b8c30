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
