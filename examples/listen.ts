// The command line and the listening part the example servers share: --port N (or $PORT; default 9001, 0 = any
// free port), --unix PATH, --threads N, --tls-cert FILE --tls-key FILE (or $TLS_CERT/$TLS_KEY: https and wss),
// --transport fd|stream (force the connections' transport); once ready they print `listening on …` (tests and the
// bench wait for it).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';

export interface ServerArgs {
  port: number;
  unix?: string;
  threads: number;
  tlsCert?: string;
  tlsKey?: string;
  transport?: 'fd' | 'stream';
}

export function parseArgs(argv: string[] = process.argv.slice(2)): ServerArgs {
  const args: ServerArgs = {
    port: Number(process.env.PORT ?? 9001),
    threads: 2,
    tlsCert: process.env.TLS_CERT || undefined,
    tlsKey: process.env.TLS_KEY || undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--unix') args.unix = argv[++i];
    else if (argv[i] === '--threads') args.threads = Number(argv[++i]);
    else if (argv[i] === '--tls-cert') args.tlsCert = argv[++i];
    else if (argv[i] === '--tls-key') args.tlsKey = argv[++i];
    else if (argv[i] === '--transport') args.transport = argv[++i] as 'fd' | 'stream';
  }
  if ((args.tlsCert === undefined) !== (args.tlsKey === undefined)) {
    throw new Error('give both --tls-cert and --tls-key (or TLS_CERT and TLS_KEY), or neither');
  }
  return args;
}

/** An https server when the arguments name a certificate and key, a plain http one otherwise. */
export function createServer(args: ServerArgs, handler: http.RequestListener): http.Server {
  if (args.tlsCert === undefined || args.tlsKey === undefined) return http.createServer(handler);
  const options = { cert: fs.readFileSync(args.tlsCert), key: fs.readFileSync(args.tlsKey) };
  return https.createServer(options, handler) as unknown as http.Server;
}

export function listen(server: http.Server, args: ServerArgs, note = ''): void {
  const { unix } = args;
  if (unix) {
    fs.rmSync(unix, { force: true });
    server.listen(unix, () => {
      fs.chmodSync(unix, 0o666); // nginx's workers (user nobody) must be able to connect
      console.log(`listening on unix:${unix}${note}`);
    });
  } else {
    server.listen(args.port, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      const scheme = server instanceof https.Server ? 'https' : 'http';
      console.log(`listening on ${scheme}://127.0.0.1:${address.port}${note}`);
    });
  }
}
