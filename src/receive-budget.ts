// The per-thread budget for incomplete received messages (native/thread_buffers.h): bytes that peers make us hold
// before a message completes, counted over every connection of the thread (raw and inflated).
import { native } from './native.js';

/** What `getReceiveBudget()` reports for the calling thread. */
export interface ReceiveBudget {
  /** Bytes that incomplete received messages may hold, all connections of this thread together. */
  limit: number;
  /** Bytes they hold now. */
  used: number;
}

/**
 * Sets the calling thread's budget (default 256 MiB; each worker thread has its own). When a message's next bytes
 * would exceed it, the connection holding the most incomplete bytes fails with 1008 (policy violation: the
 * message may be within `maxRecvSize`; the thread's shared limit is what it broke). A lower limit takes effect
 * the next time a message grows. Keep it above `maxRecvSize`, or messages larger than it cannot complete.
 */
export function setReceiveBudget(bytes: number): void {
  if (typeof bytes !== 'number' || !Number.isInteger(bytes) || bytes < 1 || bytes > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`the receive budget must be an integer from 1 to ${Number.MAX_SAFE_INTEGER}`);
  }
  native.setReceiveBudget(bytes);
}

/** The calling thread's budget and what incomplete received messages hold of it now. */
export function getReceiveBudget(): ReceiveBudget {
  const [limit, used] = native.getReceiveBudget();
  return { limit, used };
}
