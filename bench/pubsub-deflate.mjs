// The CPU/memory trade-off of pub/sub with permessage-deflate (README "Pub/sub"): N subscribers (ws clients in a
// child process) in each mode, M publishes of a ~1 KiB JSON text. Reported: CPU time of the publishing thread per
// delivered message (process.cpuUsage around the synchronous publish loop, where compression and queueing happen),
// and zlib memory held per subscriber once the publishes are written. Not part of `npm run bench`; no assertions.
//   node bench/pubsub-deflate.mjs [subscribers=200] [publishes=200]
import { fork } from 'node:child_process';
import * as http from 'node:http';

import { native } from '../dist/native.js';
import { publish, WebSocketServer } from '../dist/index.js';

const N = Number(process.argv[2] ?? 200);
const M = Number(process.argv[3] ?? 200);

if (process.argv[2] === 'client') {
  // Child: connect, count messages, report when all arrived.
  const { default: WebSocket } = await import('ws');
  const [port, n, m, deflate] = process.argv.slice(4);
  let got = 0;
  for (let i = 0; i < Number(n); i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate === '1' });
    ws.on('message', () => {
      if (++got === Number(n) * Number(m)) process.send('done');
    });
    ws.on('open', () => process.send('open'));
  }
} else {
  const text = JSON.stringify({ user: 'someone', room: 'lobby', text: 'the quick brown fox jumps over the lazy dog '.repeat(22) });
  const modes = [
    ['uncompressed', false],
    ['shared compressor (serverNoContextTakeover)', { serverNoContextTakeover: true, threshold: 0 }],
    ['per-connection (context takeover)', { threshold: 0 }],
    ['per-connection, no context takeover (plainWslay)', { serverNoContextTakeover: true, threshold: 0 }, true],
  ];
  console.log(`${N} subscribers, ${M} publishes of ${text.length} B`);
  for (const [name, perMessageDeflate, plainWslay = false] of modes) {
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate, plainWslay, onMsgRecv() {} });
    const topic = `t-${name}`;
    wss.on('connection', (c) => c.subscribe(topic));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const child = fork(new URL(import.meta.url).pathname, ['client', '_', server.address().port, N, M, perMessageDeflate ? '1' : '0']);
    let opened = 0;
    const done = new Promise((resolve) => child.on('message', (m) => (m === 'open' ? ++opened : resolve())));
    while (opened < N) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300)); // the previous mode's connections are gone by now
    const zlibBefore = native._pubsubStats()[1];
    let cpu = 0;
    for (let i = 0; i < M; i++) {
      const start = process.cpuUsage();
      publish(topic, text);
      const used = process.cpuUsage(start);
      cpu += used.user + used.system;
      if (i % 10 === 9) await new Promise((r) => setImmediate(r)); // let the writes go out
    }
    await done;
    const zlibHeld = native._pubsubStats()[1] - zlibBefore;
    console.log(
      `${name.padEnd(50)} ${((cpu * 1000) / (N * M)).toFixed(0).padStart(6)} ns CPU per delivered message, ` +
        `${(zlibHeld / N / 1024).toFixed(1).padStart(6)} KiB zlib per subscriber`,
    );
    child.kill();
    await wss.close();
    await new Promise((r) => server.close(r));
  }
  process.exit(0);
}
