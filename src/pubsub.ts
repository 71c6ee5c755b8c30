// Pub/sub across the process: publish() queues a message natively to every subscriber of a topic on this thread
// and posts it to the other threads that have subscribers (native/pubsub.h); a bridge (wslay/redis) carries it to
// other processes. Subscriptions are on the connection: conn.subscribe(topic).
import { isMainThread } from 'node:worker_threads';

import { Opcode } from './constants.js';
import { native } from './native.js';

export interface PublishOptions {
  /** With permessage-deflate: compress (messages from the connection's threshold up) or not. Default true. */
  compress?: boolean;
}

export type PublishData = string | Buffer | ArrayBufferView | ArrayBuffer;

export interface PublishBridge {
  /** The process-wide count of local subscribers of `topic` went 0 → 1 (any thread). */
  topicActive(topic: string): void;
  /** … went 1 → 0. */
  topicIdle(topic: string): void;
  /** A publish() made in this process (on any thread), after its local delivery was queued. */
  published(topic: string, data: Buffer, opcode: number, compress: boolean): void;
}

function checkPublish(opcode: unknown, options: PublishOptions | undefined): boolean {
  if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) {
    throw new RangeError('opcode must be Opcode.TEXT (1) or Opcode.BINARY (2)');
  }
  if (options === undefined) return true;
  if (options === null || typeof options !== 'object') throw new TypeError('publish options must be an object');
  const { compress } = options;
  if (compress !== undefined && typeof compress !== 'boolean') throw new TypeError('compress must be a boolean');
  return compress ?? true;
}

function asBuffer(data: PublishData): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

let bridge: PublishBridge | null = null;
/** The topics the bridge has been told are active (events from the inbox may repeat what the snapshot said). */
const announced = new Set<string>();

/**
 * Queues `data` to every subscriber of `topic` in this process: at once to those on this thread, asynchronously
 * (in publish order) to those on other threads (WorkerPool workers). Returns the number of subscribers on this
 * thread it was queued to (not those that missed it over their backpressure limit, nor closing ones).
 */
export function publish(topic: string, data: PublishData, opcode: number = Opcode.TEXT, options?: PublishOptions): number {
  const compress = checkPublish(opcode, options);
  const queued = native.publish(topic, data, opcode, compress, true);
  bridge?.published(topic, asBuffer(data), opcode, compress);
  return queued;
}

/** Delivers to this process's subscribers (every thread) without calling bridge.published (messages that came from
 *  the broker). Returns what publish() returns. */
export function publishLocal(topic: string, data: PublishData, opcode: number = Opcode.TEXT, options?: PublishOptions): number {
  const compress = checkPublish(opcode, options);
  return native.publish(topic, data, opcode, compress, false);
}

/** The number of subscribers of `topic` in the process, on every thread. */
export function subscriberCount(topic: string): number {
  return native.subscriberCount(topic);
}

function dispatch(kind: 0 | 1 | 2, topic: string, data?: Buffer, opcode?: number, compress?: boolean): void {
  if (bridge === null) return;
  if (kind === 0) {
    if (announced.has(topic)) return;
    announced.add(topic);
    bridge.topicActive(topic);
  } else if (kind === 1) {
    if (!announced.delete(topic)) return;
    bridge.topicIdle(topic);
  } else {
    bridge.published(topic, data!, opcode!, compress!);
  }
}

/** Main thread only; at most one bridge; setting it calls topicActive for every topic active now. null removes it. */
export function setPublishBridge(next: PublishBridge | null): void {
  if (!isMainThread) throw new Error('setPublishBridge() works on the main thread only');
  if (next !== null) {
    for (const name of ['topicActive', 'topicIdle', 'published'] as const) {
      if (typeof next?.[name] !== 'function') throw new TypeError(`a publish bridge needs a ${name}() method`);
    }
  }
  announced.clear();
  bridge = next;
  const active = native.setPublishBridge(next === null ? null : dispatch);
  if (next === null) return;
  for (const topic of active) {
    announced.add(topic);
    next.topicActive(topic);
  }
}
