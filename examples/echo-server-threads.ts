// The echo server on several cores: this thread accepts and upgrades (validation, subprotocol, permessage-deflate
// as handleUpgrade does them), then each connection is served by one of N worker threads, each with its own
// libuv loop, running examples/echo-worker.ts.
//
//   node dist/examples/echo-server-threads.js [--port 9001] [--unix /path/app.sock] [--threads N]
//
// --threads defaults to the number of cores.
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

import { WorkerPool } from 'wslay';

import { listen, parseArgs } from './listen.js';

async function main(): Promise<void> {
  const args = parseArgs();
  const threads = process.argv.includes('--threads') ? args.threads : os.availableParallelism();
  const pool = new WorkerPool({ module: path.join(__dirname, 'echo-worker.js'), threads });
  pool.on('workerError', (err, index) => console.error(`worker ${index}:`, err));
  pool.on('workerExit', (code, index) => code !== 0 && console.error(`worker ${index} exited with code ${code}`));
  await pool.ready();

  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('a WebSocket echo server: connect with ws://\n');
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    pool.handleUpgrade(req, socket, head, { perMessageDeflate: true }).catch((err) => console.error('upgrade failed:', err));
  });

  listen(server, args, ` (${threads} threads)`);

  const shutdown = (): void => {
    server.close();
    pool.close(1001).then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
