// The command line and the listening part the example servers share: --port N (or $PORT; default 9001, 0 = any
// free port), --unix PATH, --threads N; once ready they print `listening on …` (tests and the bench wait for it).
import * as fs from 'node:fs';
import type * as http from 'node:http';
import type * as net from 'node:net';

export interface ServerArgs {
  port: number;
  unix?: string;
  threads: number;
}

export function parseArgs(argv: string[] = process.argv.slice(2)): ServerArgs {
  const args: ServerArgs = { port: Number(process.env.PORT ?? 9001), threads: 2 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--unix') args.unix = argv[++i];
    else if (argv[i] === '--threads') args.threads = Number(argv[++i]);
  }
  return args;
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
      console.log(`listening on http://127.0.0.1:${address.port}${note}`);
    });
  }
}
