// Debian's nginx as a reverse proxy for tests: examples/nginx.conf with only its listen port changed, run in its
// own prefix dir (pid, logs, temp files and app.sock all there) in the foreground, in its own process group so
// that stopping it also ends its worker.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

import { delay } from '../helpers/wait.js';

export const NGINX = '/usr/sbin/nginx';
export const nginxPeer = { what: NGINX, present: existsSync(NGINX), package: 'nginx' };
export const nginxTemplate = path.resolve(__dirname, '..', '..', 'examples', 'nginx.conf');

const TEMPLATE_LISTEN = 'listen 127.0.0.1:5000;';

/** examples/nginx.conf listening on `port` instead of 5000; everything else as written. */
export function renderNginxConf(port: number): string {
  const template = readFileSync(nginxTemplate, 'utf8');
  const parts = template.split(TEMPLATE_LISTEN);
  if (parts.length !== 2) throw new Error(`${nginxTemplate} must contain "${TEMPLATE_LISTEN}" exactly once`);
  return parts.join(`listen 127.0.0.1:${port};`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export interface Nginx {
  port: number;
  child: ChildProcess;
  /** nginx's error log (the prefix's nginx.err). */
  errorLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx with prefix `dir` (which holds app.sock, the upstream) on a free port; resolves once it accepts. */
export async function startNginx(dir: string): Promise<Nginx> {
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  writeFileSync(conf, renderNginxConf(port));
  const args = ['-p', `${dir}/`, '-e', 'nginx.err', '-c', conf];
  // As root, workers would run as nobody, who may not connect to app.sock (created by root, mode 0755).
  if (process.getuid?.() === 0) args.push('-g', 'user root;');
  // cwd = prefix: the upstream `unix:app.sock` is relative, as in examples/nginx.conf.
  const child = spawn(NGINX, args, { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d));
  child.stderr!.on('data', (d: Buffer) => (out += d));
  // Detached, it would outlive a test process that ends without afterAll: kill its group then.
  const killOnExit = (): void => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      process.off('exit', killOnExit);
      resolve();
    }),
  );
  const errorLog = (): string => {
    const file = path.join(dir, 'nginx.err');
    return `${out}${existsSync(file) ? readFileSync(file, 'utf8') : ''}`;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM'); // fast shutdown: the master ends its worker and exits
    const done = await Promise.race([exited.then(() => true), delay(5000).then(() => false)]);
    if (!done) {
      killOnExit(); // the group: master and worker
      await exited;
    }
  };

  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not start listening on ${port}:\n${errorLog()}`);
    }
    await delay(50);
  }
  return { port, child, errorLog, stop };
}
