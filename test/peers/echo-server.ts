// Starts the demo echo server (dist/examples/echo-server-helpers.js, what `npm start` runs) as a child process on a
// TCP port or a unix socket, and waits for its `listening on` line. ECHO_SERVER_SCRIPT runs another build of it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import { within } from '../helpers/wait.js';
import { requirePeer, type Peer } from './availability.js';

export const repoRoot = path.resolve(__dirname, '..', '..');
export const echoServerScript =
  process.env.ECHO_SERVER_SCRIPT || path.join(repoRoot, 'dist', 'examples', 'echo-server-helpers.js');

export interface EchoServer {
  /** The TCP port, when started with a port. */
  port?: number;
  child: ChildProcess;
  output(): string;
  /** SIGTERM (the server closes every connection with 1001 and exits), SIGKILL if it lingers. */
  stop(): Promise<void>;
}

/**
 * `extraArgs` go to the server's command line (e.g. --tls-cert F --tls-key F for https and wss); `script` runs
 * another example server that takes --port the same way, with `env` added to its environment.
 */
export async function startEchoServer(
  listen: { unix: string } | { port: number } = { port: 0 },
  extraArgs: string[] = [],
  script = echoServerScript,
  env: Record<string, string> = {},
): Promise<EchoServer> {
  if (!existsSync(script)) throw new Error(`${script} is missing: run node scripts/setup.mjs`);
  const args = [...('unix' in listen ? ['--unix', listen.unix] : ['--port', String(listen.port)]), ...extraArgs];
  const child = spawn(process.execPath, [script, ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  // A test process that ends without afterAll (a crash, a timeout) must not leave the server running.
  const killOnExit = (): boolean => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      process.off('exit', killOnExit);
      resolve();
    }),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const force = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(force);
  };
  const listening = new Promise<number | undefined>((resolve, reject) => {
    const check = (): void => {
      const m = /listening on (?:https?:\/\/127\.0\.0\.1:(\d+)|unix:)/.exec(out);
      if (m) resolve(m[1] ? Number(m[1]) : undefined);
    };
    child.stdout!.on('data', check);
    exited.then(() => reject(new Error(`echo server exited before listening:\n${out}`)));
  });
  try {
    const port = await within(listening, 15_000, `the echo server's "listening on" line`);
    return { port, child, output: () => out, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * One echo server for the enclosing describe: started in beforeAll once `peer` is known to be present, stopped in
 * afterAll. The returned function gives the running server (inside tests only).
 */
export function echoServerForSuite(peer: Peer): () => EchoServer {
  let server: EchoServer | undefined;
  beforeAll(async () => {
    requirePeer(peer);
    server = await startEchoServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error('the echo server is not running (used outside a test?)');
    return server;
  };
}
