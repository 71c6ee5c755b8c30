// Loads the compiled addon and types what it exports. No install script builds it: it comes prebuilt in a platform
// package (npm/, scripts/prebuild.mjs) or from a source build (scripts/build-native.mjs); without either, say how
// to build it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';

import type { DeflateParams } from './permessage-deflate.js';

/** The C++ class behind WebSocketConnection (native/connection.h). Methods with `_` are internal. */
export declare class NativeConnection {
  constructor(options: NativeOptions);
  _attach(fd: number, head: Uint8Array | undefined, duplicate: boolean): void;
  _attachStream(
    head: Uint8Array | undefined,
    highWaterMark: number,
    write: (chunk: Buffer) => void,
    flow: (reading: boolean) => void,
    end: () => void,
  ): void;
  _feed(chunk: Uint8Array): void;
  _feedEnd(errno: number, closed: boolean): void;
  _written(): void;
  _handle(): NativeHandle;
  _queueFragmented(source: (len: number) => unknown, opcode: number, rsv: number): void;
  _wait(cb: () => void): void;
  _close(code: number | undefined, reason: Uint8Array | undefined): void;
  _setFlow(read: boolean | undefined, write: boolean | undefined): void;
  _shutdown(read: boolean, write: boolean): void;
  _setCallback(slot: number, fn: ((...args: any[]) => unknown) | undefined): void;
  /** silent: the constructor failed (no onClose). Otherwise onClose(1006), with `errno` when given. */
  _abort(silent: boolean, errno?: number): void;
  /** Ends now: no closing handshake, the queue dropped, the fd closed; onClose(1006) on a later turn. */
  _terminate(): void;
  /** Whether a callback takes received messages: without one the connection does not read. */
  _setReader(has: boolean): void;
  queuedCount(): number;
  ref(): this;
  unref(): this;
  readonly bufferedAmount: number;
  readonly readyState: 'connecting' | 'open' | 'closing' | 'closed';
}

export interface NativeOptions {
  server: boolean;
  buffering: boolean;
  plainWslay: boolean;
  maxRecvSize: number;
  closeTimeout: number;
  messageTimeout: number;
  maxFragments: number;
  maxPendingPongs: number;
  allowedRsv: number;
  maxBackpressure: number;
  idleTimeoutMs: number;
  sendPingsAutomatically: boolean;
  maxLifetimeMs: number;
  drainThreshold: number;
  closeOnBackpressureLimit: boolean;
  deflate?: DeflateParams & { threshold: number };
}

/** Callback slots, in the order of native/connection.h's `Slot`. */
export const CallbackSlot = {
  onMsgRecv: 0,
  onClose: 1,
  genmask: 2,
  onFrameRecvStart: 3,
  onFrameRecvChunk: 4,
  onFrameRecvEnd: 5,
  onDrain: 6,
} as const;

/** A NativeConnection's number, for the hot path (queueMsg) without a method call on the object. */
export type NativeHandle = number & { readonly __nativeHandle: unique symbol };

export interface NativeModule {
  NativeConnection: typeof NativeConnection;
  /** Queues a message on the connection whose _handle() is `handle` (see native/connection.h). */
  queueMsg(handle: NativeHandle, data: string | ArrayBufferView | ArrayBuffer, opcode: number, rsv: number): boolean;
  /** A close-on-exec duplicate of a stream socket fd (throws TypeError for anything else). */
  dupSocketFd(fd: number): number;
  /** [remoteAddress, remotePort, family, localAddress, localPort] of a TCP socket fd (getpeername/getsockname);
   *  undefined for another socket or when they cannot be read. */
  socketAddresses(fd: number): [string, number, 'IPv4' | 'IPv6', string, number] | undefined;
  /** Closes an fd; true on success. */
  closeFd(fd: number): boolean;
  /** Tests only: the next `count` callbacks on this thread find an argument missing, as when memory runs out. */
  _injectArgumentFailures(count: number): void;
  /** The calling thread's budget for bytes held in incomplete received messages (native/thread_buffers.h). */
  setReceiveBudget(bytes: number): void;
  /** [limit, used] of the calling thread's receive budget. */
  getReceiveBudget(): [number, number];
  /** Test only: the n-th buffer growth of `kind` on this thread from now fails as if memory ran out. */
  _testFailGrowth(kind: 'message' | 'other', n: number): void;
  // pub/sub (native/pubsub.h): connections by handle, as queueMsg.
  subscribe(handle: NativeHandle, topic: string): boolean;
  unsubscribe(handle: NativeHandle, topic: string): boolean;
  isSubscribed(handle: NativeHandle, topic: string): boolean;
  topics(handle: NativeHandle): string[];
  droppedMessages(handle: NativeHandle): number;
  /** Queues to this thread's subscribers (returns how many) and posts to the other threads'; `toBridge`: a bridge
   *  on another thread is told. */
  publish(topic: string, data: string | ArrayBufferView | ArrayBuffer, opcode: number, compress: boolean, toBridge: boolean): number;
  /** The process-wide number of subscribers of `topic`. */
  subscriberCount(topic: string): number;
  /** Sets (a function) or removes (null) this thread's bridge dispatcher: dispatch(kind, topic, data, opcode,
   *  compress), kind 0 = active, 1 = idle, 2 = published elsewhere. Returns the topics active now. */
  setPublishBridge(
    dispatch: ((kind: 0 | 1 | 2, topic: string, data?: Buffer, opcode?: number, compress?: boolean) => void) | null,
  ): string[];
  /** Tests only: [messages deflated by this thread's shared compressor, zlib bytes allocated in the process,
   *  published messages this thread's full inbox missed]. */
  _pubsubStats(): [number, number, number];
  /** Gives the addon worker_threads.markAsUntransferable for its message slabs. */
  setSlabGuard(markAsUntransferable: (value: object) => void): void;
}

function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('wslay: cannot find the package root');
    dir = up;
  }
  return dir;
}

/** The prebuilt package for this machine, named as in npm/ (scripts/prebuild.mjs). */
function platformPackage(): string {
  let name = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux') {
    const loaderArch = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'aarch64' : process.arch;
    name += fs.existsSync(`/lib/ld-musl-${loaderArch}.so.1`) ? '-musl' : '-gnu';
  }
  return `@wslay/${name}`;
}

function prebuiltAddon(pkg: string): string | undefined {
  try {
    return path.join(path.dirname(require.resolve(`${pkg}/package.json`)), 'wslay.node');
  } catch {
    return undefined;
  }
}

/** An error for the user, with no stack frames of ours: what to do is all it has to say. */
function setupError(message: string, code: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50; // enough to reach the caller's require() through the module loader's frames
  const err = new Error(message) as Error & { code: string };
  Error.stackTraceLimit = limit;
  err.code = code;
  const root = packageRoot();
  const frames = (err.stack ?? '')
    .split('\n')
    .filter((l) => /^\s+at /.test(l) && !l.includes(root) && !/\bnode:internal\//.test(l));
  err.stack = [`Error: ${message}`, ...frames].join('\n');
  return err;
}

function version(): string {
  const manifest = JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version?: string };
  return manifest.version ?? 'latest';
}

const SYSTEM_WSLAY =
  'Debian/Ubuntu: apt-get install libwslay-dev; Homebrew: brew install wslay; Fedora: dnf install wslay-devel';

// Where the addon comes from, in order: WSLAY_ADDON_PATH (another build of the same sources: CI's cmake-js build,
// the ASan build), the prebuilt platform package (an optional dependency: npm installs only the one whose
// os/cpu/libc fit), then a local build (build/Release: the repo itself, or a platform without a prebuild).
function load(): NativeModule {
  const pkg = platformPackage();
  const local = path.join(packageRoot(), 'build', 'Release', 'wslay.node');
  const prebuilt = prebuiltAddon(pkg);
  const chosen = process.env.WSLAY_ADDON_PATH;
  if (chosen && !fs.existsSync(chosen)) {
    throw setupError(`wslay: WSLAY_ADDON_PATH=${chosen} does not exist`, 'ERR_WSLAY_NO_ADDON');
  }
  const files = chosen ? [chosen] : [prebuilt, local].filter((f): f is string => f !== undefined && fs.existsSync(f));
  if (files.length === 0) {
    throw setupError(
      `wslay: no native addon for ${process.platform}-${process.arch}: the prebuilt package ${pkg} is not ` +
        'installed (npm installs it with wslay, unless optional dependencies are omitted or there is no ' +
        `prebuild for this platform) and there is no local build (${local}). To build from source: install ` +
        `wslay and a C++ compiler (${SYSTEM_WSLAY}), then run \`npx wslay-build\` (or \`npm run build:native\` ` +
        'in node_modules/wslay).',
      'ERR_WSLAY_NO_ADDON',
    );
  }
  // A prebuild this system cannot load gives way to a local build (made after the error below said how).
  let failure: { file: string; err: unknown } | undefined;
  for (const file of files) {
    try {
      return require(file);
    } catch (err) {
      failure ??= { file, err };
    }
  }
  const { file, err } = failure!;
  const reason = err instanceof Error ? err.message : String(err);
  const glibc = /`(GLIBC_[\d.]+)' not found/.exec(reason);
  if (glibc && file === prebuilt) {
    throw setupError(
      `wslay: the prebuilt ${pkg} needs a newer C library (${glibc[1]}) than this system's. Build from source ` +
        `instead: install wslay and a C++ compiler (${SYSTEM_WSLAY}), then run \`npx wslay-build\`.`,
      'ERR_WSLAY_LIBRARY',
    );
  }
  // The addon is there but libwslay.so.1 is missing, not a shared library, or lacks a symbol.
  if (!/libwslay|undefined symbol: wslay_/.test(reason)) throw err;
  const fix =
    file === prebuilt
      ? `reinstall the platform package, which ships libwslay.so.1 beside wslay.node: npm install ${pkg}@${version()}`
      : `install the system package (${SYSTEM_WSLAY}; the library alone: libwslay1), or rebuild with \`npx wslay-build\``;
  throw setupError(`wslay: ${file} cannot load the wslay library (${reason}). To fix it, ${fix}.`, 'ERR_WSLAY_LIBRARY');
}

export const native = load();
// Received messages are views into shared slabs: a transfer must copy them, never detach a slab.
native.setSlabGuard(markAsUntransferable);
