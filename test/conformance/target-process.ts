// Starts an echo server as a child process and waits for its
// `listening on http://127.0.0.1:PORT` (or https://) line (its first stdout line).
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';

export interface RunningServer {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export function startEchoServer(command: string, args: string[], cwd: string, timeoutMs = 15_000): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} printed no "listening on" line within ${timeoutMs} ms\n${out}${err}`));
    }, timeoutMs);
    const stop = (): Promise<void> =>
      new Promise((done) => {
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const force = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(force);
          done();
        });
        child.kill('SIGTERM');
      });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      if (out.includes('\n')) return; // only the first line matters; later output is ignored
      out += d.toString();
      const m = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(out.split('\n')[0] ?? '');
      if (m) {
        clearTimeout(timer);
        resolve({ port: Number(m[1]), child, stop });
      } else if (out.includes('\n')) {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`unexpected first stdout line: ${out.split('\n')[0]}`));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${code ?? signal}) before listening\n${out}${err}`));
    });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
