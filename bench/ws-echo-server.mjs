// ws-echo-server.mjs: the `ws` package echo server that `npm run bench` compares against (issue 5).
// ws loads bufferutil by itself when it is installed (it is a dev dependency), so masking runs native.
// With --module wslay/ws the same code runs on this package's ws facade: the import is the only change.
// With --tls-cert FILE --tls-key FILE it runs on https.createServer (wss), as `npm start` does with the same flags.
// Usage: node bench/ws-echo-server.mjs [--port N] [--deflate] [--module ws|wslay/ws] [--tls-cert F --tls-key F]
// Prints "listening on http://127.0.0.1:PORT" (https:// with TLS) once ready.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

function parseArgs(argv) {
  const options = { port: 0, deflate: false, module: 'ws', tlsCert: null, tlsKey: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) options.port = Number(argv[++i]);
    else if (argv[i] === '--deflate') options.deflate = true;
    else if (argv[i] === '--module' && ['ws', 'wslay/ws'].includes(argv[i + 1])) options.module = argv[++i];
    else if (argv[i] === '--tls-cert' && i + 1 < argv.length) options.tlsCert = argv[++i];
    else if (argv[i] === '--tls-key' && i + 1 < argv.length) options.tlsKey = argv[++i];
    else usage();
  }
  if ((options.tlsCert === null) !== (options.tlsKey === null)) usage();
  return options;
}

function usage() {
  process.stderr.write('usage: ws-echo-server.mjs [--port N] [--deflate] [--module ws|wslay/ws] [--tls-cert F --tls-key F]\n');
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));
const { WebSocketServer } = await import(options.module);
// ws defaults otherwise: the comparison is against ws as people deploy it.
const https = options.tlsCert
  ? createServer({ cert: readFileSync(options.tlsCert), key: readFileSync(options.tlsKey) })
  : null;
const server = new WebSocketServer(https
  ? { server: https, perMessageDeflate: options.deflate }
  : { host: '127.0.0.1', port: options.port, perMessageDeflate: options.deflate });

server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});

const listening = () => process.stdout.write(`listening on ${https ? 'https' : 'http'}://127.0.0.1:${server.address().port}\n`);
if (https) https.listen(options.port, '127.0.0.1', listening);
else server.on('listening', listening);

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
