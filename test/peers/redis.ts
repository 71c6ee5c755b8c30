// Debian's redis-server for the wslay/redis tests: one per test file, on a free port, with no persistence (nothing
// written to disk), in the foreground. stop() kills it (SIGKILL: a crash, as a restart test wants); start() again
// brings it back on the same port, empty.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';

import { delay } from '../helpers/wait.js';
import { freePort } from './nginx.js';

const CANDIDATES = ['/usr/bin/redis-server', '/usr/sbin/redis-server', '/usr/local/bin/redis-server'];
export const REDIS_SERVER = CANDIDATES.find((p) => existsSync(p)) ?? CANDIDATES[0];
export const redisPeer = { what: 'redis-server', present: existsSync(REDIS_SERVER), package: 'redis-server' };

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export class RedisServer {
  #child: ChildProcess | undefined;
  #output = '';

  private constructor(readonly port: number) {}

  /** A redis-server on a free port of 127.0.0.1, accepting once this resolves. */
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.start();
    return server;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  async start(): Promise<void> {
    if (this.#child) return;
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (this.#output += d));
    child.stderr!.on('data', (d: Buffer) => (this.#output += d));
    const killOnExit = (): void => void child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    this.#child = child;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        await this.stop();
        throw new Error(`redis-server did not start listening on ${this.port}:\n${this.#output}`);
      }
      await delay(20);
    }
  }

  /** Kills it (SIGKILL) and resolves once it has exited and the port is closed. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    }
  }
}
