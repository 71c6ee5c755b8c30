// ws-echo-server.mjs: the `ws` package echo server that `npm run bench` compares against (issue 5).
// ws loads bufferutil by itself when it is installed (it is a dev dependency), so masking runs native.
// With --module wslay/ws the same code runs on this package's ws facade: the import is the only change.
// Usage: node bench/ws-echo-server.mjs [--port N] [--deflate] [--module ws|wslay/ws]
// Prints "listening on http://127.0.0.1:PORT" once ready.

function parseArgs(argv) {
  const options = { port: 0, deflate: false, module: 'ws' };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port' && i + 1 < argv.length) options.port = Number(argv[++i]);
    else if (argv[i] === '--deflate') options.deflate = true;
    else if (argv[i] === '--module' && ['ws', 'wslay/ws'].includes(argv[i + 1])) options.module = argv[++i];
    else {
      process.stderr.write('usage: ws-echo-server.mjs [--port N] [--deflate] [--module ws|wslay/ws]\n');
      process.exit(2);
    }
  }
  return options;
}

const options = parseArgs(process.argv.slice(2));
const { WebSocketServer } = await import(options.module);
// ws defaults otherwise: the comparison is against ws as people deploy it.
const server = new WebSocketServer({
  host: '127.0.0.1',
  port: options.port,
  perMessageDeflate: options.deflate,
});

server.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  socket.on('error', () => socket.terminate());
});

server.on('listening', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0));
