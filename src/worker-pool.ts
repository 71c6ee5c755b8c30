// WorkerPool: WebSocket connections served by N worker threads, each with its own libuv loop. The main thread
// accepts and upgrades (upgradeForHandoff), then hands each socket to a worker picked round-robin or least-loaded;
// every worker loads the user's module, which defines the handlers (src/pool-worker.ts runs inside the workers).
// The pool holds each handoff until its worker answers, and releases whatever a dead worker never adopted.
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as stream from 'node:stream';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

import type { WebSocketConnection } from './connection.js';
import { closeReasonBytes, Opcode } from './constants.js';
import { publish, type PublishData, type PublishOptions } from './pubsub.js';
import {
  type AdoptOptions,
  type HandoffRequestInfo,
  SocketHandoff,
  type SocketHandoffMessage,
  upgradeForHandoff,
  type UpgradeHandoffOptions,
} from './handoff.js';

/** What a worker module may export (named exports, or the same names on its default export). */
export interface PoolWorkerModule {
  /** Options for every connection on the worker, callbacks included. */
  connectionOptions?: AdoptOptions;
  /** Called for each new connection before anything is delivered to it: set handlers, keep it, tag it. */
  onConnection?(connection: WebSocketConnection, info: PooledConnectionInfo): void;
  /** Called once in each worker before it takes connections (awaited); `data` is the pool's `workerData`. */
  setup?(data: unknown, index: number): void | Promise<void>;
}

export interface PooledConnectionInfo {
  /** The worker's index in the pool (0-based; a replacement keeps the index of the worker it replaces). */
  index: number;
  protocol: string;
  extensions: string;
  request: HandoffRequestInfo | undefined;
}

export interface WorkerPoolOptions {
  /** Path (or file: URL) of the module each worker loads: see PoolWorkerModule. A .js/.mjs file, not TypeScript. */
  module: string | URL;
  /** Default: os.availableParallelism(). */
  threads?: number;
  /** Default 'least-loaded': fewest open and pending connections, ties in round-robin order. */
  assign?: 'round-robin' | 'least-loaded';
  /** Passed to the module's setup(). Must survive a structured clone. */
  workerData?: unknown;
  /** Replace a worker that dies after it was ready (default true). One that fails to start is not replaced. */
  respawn?: boolean;
  /** close() terminates workers still running this long after it asked them to close (ms, default 10000). */
  shutdownTimeout?: number;
  /** Further options for `new Worker` (resourceLimits, execArgv, env, …). */
  workerOptions?: Omit<WorkerOptions, 'workerData' | 'eval' | 'transferList'>;
}

// --- the protocol between the pool and src/pool-worker.ts

/** workerData of a pool worker. */
export interface PoolWorkerData {
  module: string;
  index: number;
  data: unknown;
}

export type PoolCommand =
  | { type: 'handoff'; handoff: SocketHandoffMessage }
  | { type: 'shutdown'; code: number; reason: string | Uint8Array };

export type PoolReport =
  | { type: 'ready' }
  /** The answer to a handoff: the pool releases its copy either way. */
  | { type: 'adopted'; id: number; ok: boolean; error?: unknown }
  | { type: 'closed' }
  /** An exception escaped the user's code: the worker closes its connections with 1011 and exits. */
  | { type: 'crashed'; error: unknown };

interface Slot {
  index: number;
  worker: Worker;
  ready: boolean;
  exited: boolean;
  /** Handoffs posted to this worker and not answered yet, by id. */
  pending: Map<number, SocketHandoff>;
  open: number;
  started: Promise<void>;
  done: Promise<void>;
}

function workerEntry(): string {
  // Next to this file in dist/; when this file runs from src/ (tests), the compiled one in dist/.
  const sibling = path.join(__dirname, 'pool-worker.js');
  if (fs.existsSync(sibling)) return sibling;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const built = path.join(dir, 'dist', 'pool-worker.js');
  if (!fs.existsSync(built)) throw new Error(`wslay: ${built} is missing (npm run build)`);
  return built;
}

/**
 * N worker threads serving WebSocket connections handed over from this thread.
 *
 * Events: 'workerError' (error, index) — an exception escaped the module's code in a worker (the worker then
 * closes its connections with 1011 and exits), the module failed to load, or a connection could not be opened;
 * 'workerExit' (exitCode, index) — a worker ended (its connections are closed; a replacement is started when
 * `respawn` allows and the pool is not closing).
 */
export class WorkerPool extends EventEmitter {
  readonly #module: string;
  readonly #options: WorkerPoolOptions;
  readonly #slots: Slot[] = [];
  #next = 0;
  #closing: Promise<void> | undefined;

  constructor(options: WorkerPoolOptions) {
    super();
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    const threads = options.threads ?? os.availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError('threads must be a positive integer');
    if (options.assign !== undefined && options.assign !== 'round-robin' && options.assign !== 'least-loaded') {
      throw new TypeError("assign must be 'round-robin' or 'least-loaded'");
    }
    const mod = options.module;
    if (mod instanceof URL) this.#module = mod.href;
    else if (typeof mod === 'string' && mod.startsWith('file:')) this.#module = mod;
    else if (typeof mod === 'string' && mod !== '') this.#module = pathToFileURL(path.resolve(mod)).href;
    else throw new TypeError('module must be a path or a file: URL');
    this.#options = options;
    for (let i = 0; i < threads; i++) this.#slots.push(this.#spawn(i));
  }

  /** Resolves once every worker has loaded the module; rejects if one exits before that. */
  ready(): Promise<void> {
    return Promise.all(this.#slots.map((s) => s.started)).then(() => undefined);
  }

  /** Number of workers (live or not). */
  get threads(): number {
    return this.#slots.length;
  }

  /** Per worker: connections open or on their way to it (0 for a dead worker). */
  get connections(): number[] {
    return this.#slots.map((s) => (s.exited ? 0 : s.open + s.pending.size));
  }

  /** publish() from the main thread: the workers share the process's topics, so their subscribers get it too
   *  (asynchronously, in publish order). Returns the number of the main thread's subscribers it was queued to. */
  publish(topic: string, data: PublishData, opcode: number = Opcode.TEXT, options?: PublishOptions): number {
    return publish(topic, data, opcode, options);
  }

  /**
   * Hands a detached socket to a worker. The pool owns the handoff from now on, also when this returns false
   * (closing, or no live worker): it is then released at once and the peer sees the connection end.
   */
  dispatch(handoff: SocketHandoff): boolean {
    if (!(handoff instanceof SocketHandoff)) throw new TypeError('dispatch needs a SocketHandoff');
    if (handoff.released) throw new Error('this handoff was already released');
    const slot = this.#closing ? undefined : this.#pick();
    if (!slot) {
      handoff.release();
      return false;
    }
    const { id } = handoff.message;
    slot.pending.set(id, handoff);
    try {
      slot.worker.postMessage({ type: 'handoff', handoff: handoff.message } satisfies PoolCommand);
    } catch (err) {
      slot.pending.delete(id);
      handoff.release();
      throw err;
    }
    return true;
  }

  /**
   * For an http server's 'upgrade' event: validates and answers the handshake here (see upgradeForHandoff), then
   * dispatches the socket. Resolves to whether a worker got it; a socket that fails on the way is destroyed.
   */
  async handleUpgrade(
    req: http.IncomingMessage,
    socket: stream.Duplex,
    head: Uint8Array,
    options: UpgradeHandoffOptions = {},
  ): Promise<boolean> {
    if (this.#closing) {
      socket.destroy();
      return false;
    }
    let handoff: SocketHandoff | undefined;
    try {
      handoff = await upgradeForHandoff(req, socket, head, options);
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return handoff ? this.dispatch(handoff) : false;
  }

  /**
   * Closes every connection in every worker with `code` (default 1001, going away) and `reason` (checked here:
   * RangeError / TypeError as for a connection's close()), waits for the workers to
   * exit (terminating those still running after `shutdownTimeout`), and resolves. Later calls return the same
   * promise; dispatches after it release their handoffs.
   */
  close(code = 1001, reason: string | Uint8Array = ''): Promise<void> {
    // Checked here: in the workers a bad reason would only make every connection's close() throw there.
    closeReasonBytes(code, reason);
    if (this.#closing) return this.#closing;
    const timeout = this.#options.shutdownTimeout ?? 10_000;
    this.#closing = Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.exited) return;
        slot.worker.postMessage({ type: 'shutdown', code, reason } satisfies PoolCommand);
        const timer = setTimeout(() => void slot.worker.terminate(), timeout);
        await slot.done;
        clearTimeout(timer);
      }),
    ).then(() => undefined);
    return this.#closing;
  }

  #spawn(index: number): Slot {
    const workerData: PoolWorkerData = { module: this.#module, index, data: this.#options.workerData };
    const worker = new Worker(workerEntry(), { ...this.#options.workerOptions, workerData });
    let started!: { resolve: () => void; reject: (err: Error) => void };
    const slot: Slot = {
      index,
      worker,
      ready: false,
      exited: false,
      pending: new Map(),
      open: 0,
      started: new Promise<void>((resolve, reject) => (started = { resolve, reject })),
      done: new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    };
    slot.started.catch(() => {}); // reported through ready() and 'workerError'; nobody has to await it
    worker.on('message', (report: PoolReport) => {
      switch (report.type) {
        case 'ready':
          slot.ready = true;
          started.resolve();
          break;
        case 'adopted': {
          const handoff = slot.pending.get(report.id);
          slot.pending.delete(report.id);
          handoff?.release(); // the worker holds its own copy now, or refused it
          if (report.ok) slot.open++;
          else if (report.error !== undefined) this.emit('workerError', report.error, index);
          break;
        }
        case 'closed':
          slot.open = Math.max(0, slot.open - 1);
          break;
        case 'crashed':
          this.emit('workerError', report.error, index);
          break;
      }
    });
    worker.on('error', (err) => this.emit('workerError', err, index));
    worker.on('exit', (exitCode) => {
      slot.exited = true;
      slot.open = 0;
      // Whatever the worker never answered was never adopted: these copies are the only ones.
      for (const handoff of slot.pending.values()) handoff.release();
      slot.pending.clear();
      started.reject(new Error(`worker ${index} exited with code ${exitCode} before it was ready`));
      this.emit('workerExit', exitCode, index);
      if (!this.#closing && slot.ready && (this.#options.respawn ?? true) && this.#slots[index] === slot) {
        this.#slots[index] = this.#spawn(index);
      }
    });
    return slot;
  }

  #pick(): Slot | undefined {
    const n = this.#slots.length;
    let best: Slot | undefined;
    for (let k = 0; k < n; k++) {
      const slot = this.#slots[(this.#next + k) % n]!;
      if (slot.exited) continue;
      if (this.#options.assign === 'round-robin') {
        best = slot;
        break;
      }
      if (!best || slot.open + slot.pending.size < best.open + best.pending.size) best = slot;
    }
    if (best) this.#next = (best.index + 1) % n;
    return best;
  }
}
