// Reference echo server on the `ws` package (which passes Autobahn), used to
// check the conformance suite itself: `CONFORMANCE_SERVER=ws npx vitest run test/conformance`.
// Usage: node test/conformance/reference-ws-server.mjs [--port N]
// Prints `listening on http://127.0.0.1:PORT` once ready, like the project's echo server.
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;

const server = createServer((_req, res) => {
  res.writeHead(426, { 'content-type': 'text/plain' }).end('WebSocket only\n');
});
// perMessageDeflate on, so sections 12/13 run; limits raised above what section 9
// sends (16 MiB messages, 65,536 fragments), since ws's defaults are lower.
const wss = new WebSocketServer({
  server,
  perMessageDeflate: true,
  maxPayload: 64 * 1024 * 1024,
  maxFragments: 128 * 1024,
});
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // protocol errors are expected here; ws closes the connection itself
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    for (const c of wss.clients) c.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 1000).unref();
  });
}
