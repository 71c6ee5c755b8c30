// The worker side of WorkerPool (src/worker-pool.ts starts this file in each worker; nothing imports it): loads
// the user's module, opens a connection for every socket the pool hands over and answers each handoff, reports
// closes, and ends the thread after closing every connection: with the pool's code on shutdown, or with 1011 when
// an exception escapes the user's code (the peer then sees 1011 instead of a bare TCP close).
import { parentPort, workerData } from 'node:worker_threads';

import { type WebSocketConnection, watchClose } from './connection.js';
import { adoptSocket, type SocketHandoffMessage } from './handoff.js';
import type { PoolCommand, PoolReport, PoolWorkerData, PoolWorkerModule } from './worker-pool.js';

/** After a crash, how long the peers get to answer our 1011 before the thread exits anyway. */
const CRASH_GRACE_MS = 2000;

const port = parentPort;
if (!port) throw new Error('wslay: pool-worker.js runs only inside a WorkerPool worker');
const { module: moduleUrl, index, data } = workerData as PoolWorkerData;
const open = new Set<WebSocketConnection>();
let user: PoolWorkerModule = {};
let ending = false;

function report(message: PoolReport): void {
  port!.postMessage(message);
}

/** A cloneable form of anything thrown (an Error clones; a function or a symbol does not). */
function cloneable(err: unknown): unknown {
  try {
    structuredClone(err);
    return err;
  } catch {
    return new Error(String(err));
  }
}

async function loadModule(): Promise<PoolWorkerModule> {
  const ns = (await import(moduleUrl)) as PoolWorkerModule & { default?: PoolWorkerModule };
  const mod = ns.connectionOptions || ns.onConnection || ns.setup ? ns : (ns.default ?? {});
  if (!mod.connectionOptions && !mod.onConnection) {
    throw new TypeError(`${moduleUrl} exports neither connectionOptions nor onConnection`);
  }
  return mod;
}

function adopt(message: SocketHandoffMessage): void {
  if (ending) {
    report({ type: 'adopted', id: message.id, ok: false });
    return;
  }
  let connection: WebSocketConnection;
  try {
    connection = adoptSocket(message, user.connectionOptions);
  } catch (err) {
    report({ type: 'adopted', id: message.id, ok: false, error: cloneable(err) });
    return;
  }
  report({ type: 'adopted', id: message.id, ok: true });
  open.add(connection);
  // The pool hears of every close, even when the user's code replaces onClose.
  watchClose(connection, () => {
    open.delete(connection);
    report({ type: 'closed' });
    if (ending && open.size === 0) finish();
  });
  // An exception here is the user's: it reaches the crash handler like any other.
  user.onConnection?.(connection, {
    index,
    protocol: message.protocol,
    extensions: message.extensions,
    request: message.request,
  });
}

let exitCode = 0;

function finish(): void {
  process.exit(exitCode);
}

/** Closes every connection with `code` and exits once all are closed (or after `graceMs`, when given). */
function end(code: number, reason: string | Uint8Array, graceMs?: number): void {
  if (ending) return;
  ending = true;
  for (const connection of open) {
    try {
      connection.close(code, reason);
    } catch {
      // already closing: its onClose is on the way
    }
  }
  if (open.size === 0) finish();
  else if (graceMs !== undefined) setTimeout(finish, graceMs).unref();
}

function onCommand(command: PoolCommand): void {
  if (command.type === 'handoff') adopt(command.handoff);
  else if (command.type === 'shutdown') end(command.code, command.reason);
}

async function main(): Promise<void> {
  user = await loadModule();
  await user.setup?.(data, index);
  // Installed only now: a module that fails to load ends the worker with its own error.
  process.on('uncaughtException', (err) => {
    if (ending && exitCode !== 0) return; // already going down
    report({ type: 'crashed', error: cloneable(err) });
    exitCode = 1;
    ending = false; // a crash during a shutdown still closes with 1011 what is left
    end(1011, '', CRASH_GRACE_MS);
  });
  port!.on('message', onCommand);
  report({ type: 'ready' });
}

void main();
