// examples/client.ts as `npm run example:client` runs it: against the demo echo server (`npm start`), found with
// PORT as the servers take it, it prints both echoes and closes cleanly.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { repoRoot, startEchoServer, type EchoServer } from './peers/echo-server.js';

let server: EchoServer;
beforeAll(async () => {
  server = await startEchoServer({ port: 0 });
});
afterAll(async () => {
  await server?.stop();
});

it('takes the server port from PORT', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'dist', 'examples', 'client.js')], {
    env: { ...process.env, PORT: String(server.port) },
    encoding: 'utf8',
    timeout: 15_000,
  });
  expect(r.stderr).toBe('');
  expect(r.stdout).toContain(`connected to ws://127.0.0.1:${server.port}/ (extensions: permessage-deflate)`);
  expect(r.stdout).toContain('text echo: hello from wslay ✓');
  expect(r.stdout).toContain('binary echo: 4096 bytes');
  expect(r.stdout).toContain('closed: 1000 (clean: true)');
  expect(r.status).toBe(0);
});
