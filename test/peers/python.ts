// Runs the Python peers in test/peers/*.py with Debian's interpreter (not a pyenv shim on PATH, which lacks
// python3-websockets) and reads what they print: one JSON object per line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

import { within } from '../helpers/wait.js';
import type { Peer } from './availability.js';

export const PYTHON = '/usr/bin/python3';

export interface PeerEvent {
  event: string;
  [field: string]: unknown;
}

/** The installed websockets version, or undefined when Python or the module is missing. */
export function websocketsVersion(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import websockets; print(websockets.__version__)'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** python3-websockets as a peer; `version` is undefined when it is missing. */
export function pythonPeer(): Peer & { version: string | undefined } {
  const version = websocketsVersion();
  return { what: 'python3-websockets', present: version !== undefined, package: 'python3-websockets', version };
}

export interface PythonPeer {
  child: ChildProcess;
  events: PeerEvent[];
  /** The first event (already printed or still to come) for which `match` holds. */
  next(match: (e: PeerEvent) => boolean, timeout?: number, what?: string): Promise<PeerEvent>;
  /** Resolves with the exit code once the script has exited. */
  exited: Promise<number | null>;
  output(): string;
  stop(): Promise<void>;
}

export function runPython(script: string, args: string[]): PythonPeer {
  const child = spawn(PYTHON, [path.join(__dirname, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const events: PeerEvent[] = [];
  const waiters = new Set<() => void>();
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d;
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as PeerEvent);
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  // The scripts also end when their stdin closes; this covers a test process that exits without afterEach.
  const killOnExit = (): boolean => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      process.off('exit', killOnExit);
      resolve(code);
    }),
  );
  exited.then(() => {
    for (const w of waiters) w();
  });
  const output = (): string => `${stdout}${stderr}`;

  return {
    child,
    events,
    exited,
    output,
    next(match, timeout = 20_000, what = 'an event') {
      const found = new Promise<PeerEvent>((resolve, reject) => {
        const check = (): void => {
          const e = events.find(match);
          if (e) resolve(e);
          else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`python exited first:\n${output()}`));
          else return;
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
      return within(found, timeout, `${what} from ${script}\n${output()}`);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const force = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.kill('SIGTERM');
      await exited;
      clearTimeout(force);
    },
  };
}
