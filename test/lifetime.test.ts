// Lifetime: an open connection that no JS code references survives garbage collection and keeps working; once
// onClose has run it can be collected (seen through a FinalizationRegistry). In a child with --expose-gc.
import { describe, expect, it } from 'vitest';

import { lastJson, runNode, writeScript, wsPath } from './helpers/child.js';

const SCRIPT = `
const http = require('node:http');
const { WebSocketConnection, acceptKey } = require('./index.js');
const WebSocket = require(${JSON.stringify(wsPath)});
const collected = [];
const registry = new FinalizationRegistry((name) => collected.push(name));
const out = { echoes: [], collectedWhileOpen: null, closes: [], collectedAfterClose: false, gcRounds: 0 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function collect(rounds) {
  for (let i = 0; i < rounds; i++) {
    global.gc();
    await sleep(10);
  }
}
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Accept: ' + acceptKey(req.headers['sec-websocket-key']) + '\\r\\n\\r\\n');
  // No reference kept anywhere but the registry's weak one.
  registry.register(new WebSocketConnection({
    socket, head,
    onMsgRecv(rsv, opcode, msg) { this.queueMsg(msg, opcode); },
    onClose(code) { out.closes.push(code); },
  }), 'server connection');
});
server.listen(0, '127.0.0.1', async () => {
  const ws = new WebSocket('ws://127.0.0.1:' + server.address().port + '/', { perMessageDeflate: false });
  const next = () => new Promise((r) => ws.once('message', (d) => r(d.toString())));
  await new Promise((r) => ws.once('open', r));
  for (let i = 0; i < 5; i++) {
    await collect(3);
    ws.send('echo ' + i);
    out.echoes.push(await next());
  }
  await collect(3);
  out.collectedWhileOpen = collected.includes('server connection');
  ws.close(1000);
  await new Promise((r) => ws.once('close', r));
  for (let i = 0; i < 100 && out.closes.length === 0; i++) await sleep(10);
  for (; out.gcRounds < 100 && !collected.includes('server connection'); out.gcRounds++) await collect(1);
  out.collectedAfterClose = collected.includes('server connection');
  server.close();
  console.log(JSON.stringify(out));
});
`;

describe('lifetime', () => {
  it('an unreferenced open connection survives gc and echoes; after onClose it is collected', async () => {
    const { result } = runNode(await writeScript('lifetime.js', SCRIPT), { nodeArgs: ['--expose-gc'] });
    const res = await result;
    expect(res.code, res.stderr).toBe(0);
    const out = lastJson<{
      echoes: string[];
      collectedWhileOpen: boolean;
      closes: number[];
      collectedAfterClose: boolean;
    }>(res);
    expect(out.echoes).toEqual(['echo 0', 'echo 1', 'echo 2', 'echo 3', 'echo 4']);
    expect(out.collectedWhileOpen).toBe(false);
    expect(out.closes).toEqual([1000]);
    expect(out.collectedAfterClose).toBe(true);
  });
});
