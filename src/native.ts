// Loads the compiled addon and types what it exports. The addon is built by `npm install` (scripts/build-native.mjs);
// when an installer skipped that (npm 11 runs dependencies' install scripts only when allowed), say how to build it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';

import type { DeflateParams } from './permessage-deflate.js';

/** The C++ class behind WebSocketConnection (native/connection.h). Methods with `_` are internal. */
export declare class NativeConnection {
  constructor(options: NativeOptions);
  _attach(fd: number, head: Uint8Array | undefined, duplicate: boolean): void;
  _handle(): NativeHandle;
  _queueFragmented(source: (len: number) => unknown, opcode: number, rsv: number): void;
  _wait(cb: () => void): void;
  _close(code: number | undefined, reason: Uint8Array | undefined): void;
  _setFlow(read: boolean | undefined, write: boolean | undefined): void;
  _shutdown(read: boolean, write: boolean): void;
  _setCallback(slot: number, fn: ((...args: any[]) => unknown) | undefined): void;
  _abort(silent: boolean): void;
  queuedCount(): number;
  ref(): this;
  unref(): this;
  readonly bufferedAmount: number;
  readonly readyState: 'connecting' | 'open' | 'closing' | 'closed';
}

export interface NativeOptions {
  server: boolean;
  buffering: boolean;
  maxRecvSize: number;
  closeTimeout: number;
  messageTimeout: number;
  maxFragments: number;
  maxPendingPongs: number;
  allowedRsv: number;
  maxBackpressure: number;
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
} as const;

function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('wslay: cannot find the package root');
    dir = up;
  }
  return dir;
}

/** A NativeConnection's number, for the hot path (queueMsg) without a method call on the object. */
export type NativeHandle = number & { readonly __nativeHandle: unique symbol };

export interface NativeModule {
  NativeConnection: typeof NativeConnection;
  /** Queues a message on the connection whose _handle() is `handle` (see native/connection.h). */
  queueMsg(handle: NativeHandle, data: string | ArrayBufferView | ArrayBuffer, opcode: number, rsv: number): boolean;
  /** A close-on-exec duplicate of a stream socket fd (throws TypeError for anything else). */
  dupSocketFd(fd: number): number;
  /** Closes an fd; true on success. */
  closeFd(fd: number): boolean;
  /** The calling thread's budget for bytes held in incomplete received messages (native/thread_buffers.h). */
  setReceiveBudget(bytes: number): void;
  /** [limit, used] of the calling thread's receive budget. */
  getReceiveBudget(): [number, number];
  /** Test only: the n-th buffer growth of `kind` on this thread from now fails as if memory ran out. */
  _testFailGrowth(kind: 'message' | 'other', n: number): void;
  /** Gives the addon worker_threads.markAsUntransferable for its message slabs. */
  setSlabGuard(markAsUntransferable: (value: object) => void): void;
}

function load(): NativeModule {
  const root = packageRoot();
  // WSLAY_ADDON_PATH selects another build of the same sources (CI loads the cmake-js build with it).
  const file = process.env.WSLAY_ADDON_PATH || path.join(root, 'build', 'Release', 'wslay.node');
  if (!fs.existsSync(file)) {
    throw new Error(
      `wslay: the native addon is not built (${file} is missing). Build it with \`npm rebuild wslay\` ` +
        '(npm 11 may hold back install scripts of dependencies: `npm install-scripts approve wslay`), or run ' +
        '`node scripts/build-native.mjs` in the package directory.',
    );
  }
  return require(file);
}

export const native = load();
// Received messages are views into shared slabs: a transfer must copy them, never detach a slab.
native.setSlabGuard(markAsUntransferable);
