// The WHATWG side of wslay/ws's WebSocket: Event classes and addEventListener/removeEventListener over the
// EventEmitter events, so code written for the browser's (or undici's) WebSocket runs too. A listener added here
// is wrapped once, when it is added; the wrapper builds the event object only when the event fires.
import type { EventEmitter } from 'node:events';

const kTarget = Symbol('wslay.ws.target');

export class Event {
  readonly type: string;
  [kTarget]: unknown = null;
  constructor(type: string) {
    this.type = type;
  }
  get target(): unknown {
    return this[kTarget];
  }
}

export class MessageEvent extends Event {
  readonly data: unknown;
  constructor(type: string, init: { data?: unknown } = {}) {
    super(type);
    this.data = init.data ?? null;
  }
}

export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? '';
    this.wasClean = init.wasClean ?? false;
  }
}

export class ErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.message ?? '';
  }
}

export type EventHandler = ((event: any) => void) | { handleEvent(event: any): void };

const kListener = Symbol('wslay.ws.listener');
const kForOnAttribute = Symbol('wslay.ws.onAttribute');

interface Wrapped {
  (this: EventEmitter, ...args: any[]): void;
  [kListener]: EventHandler;
  [kForOnAttribute]: boolean;
}

/** What the WebSocket gives the wrappers: whether its close was clean (CloseEvent.wasClean). */
export interface WhatwgTarget extends EventEmitter {
  readonly wasClean: boolean;
}

function call(handler: EventHandler, target: unknown, event: Event): void {
  event[kTarget] = target;
  if (typeof handler === 'function') handler.call(target, event);
  else handler.handleEvent(event);
}

function wrap(type: string, handler: EventHandler): Wrapped {
  let w: Wrapped;
  switch (type) {
    case 'message':
      w = function (this: EventEmitter, data: Buffer, isBinary: boolean) {
        call(handler, this, new MessageEvent('message', { data: isBinary ? data : data.toString() }));
      } as Wrapped;
      break;
    case 'close':
      w = function (this: WhatwgTarget, code: number, reason: Buffer) {
        call(handler, this, new CloseEvent('close', { code, reason: reason.toString(), wasClean: this.wasClean }));
      } as Wrapped;
      break;
    case 'error':
      w = function (this: EventEmitter, error: Error) {
        call(handler, this, new ErrorEvent('error', { error, message: error.message }));
      } as Wrapped;
      break;
    default:
      w = function (this: EventEmitter) {
        call(handler, this, new Event(type));
      } as Wrapped;
  }
  w[kListener] = handler;
  w[kForOnAttribute] = false;
  return w;
}

/** addEventListener(type, handler, { once }) for 'open', 'message', 'close' and 'error' (others are ignored). */
export function addEventListener(
  target: EventEmitter,
  type: string,
  handler: EventHandler,
  options: { once?: boolean; [kForOnAttribute]?: boolean } = {},
): void {
  if (type !== 'open' && type !== 'message' && type !== 'close' && type !== 'error') return;
  if (typeof handler !== 'function' && typeof handler?.handleEvent !== 'function') return;
  const forOn = options[kForOnAttribute] === true;
  if (!forOn) {
    // As in the DOM: the same handler added twice for a type is one listener.
    for (const l of target.listeners(type) as Wrapped[]) if (l[kListener] === handler && !l[kForOnAttribute]) return;
  }
  const w = wrap(type, handler);
  w[kForOnAttribute] = forOn;
  if (options.once) target.once(type, w);
  else target.on(type, w);
}

export function removeEventListener(target: EventEmitter, type: string, handler: EventHandler): void {
  for (const l of target.listeners(type) as Wrapped[]) {
    if (l[kListener] === handler && !l[kForOnAttribute]) {
      target.removeListener(type, l);
      return;
    }
  }
}

/** The handler behind `on<type>` (onopen, onmessage, …), or null. */
export function getOnAttribute(target: EventEmitter, type: string): EventHandler | null {
  for (const l of target.listeners(type) as Wrapped[]) if (l[kForOnAttribute]) return l[kListener];
  return null;
}

export function setOnAttribute(target: EventEmitter, type: string, handler: unknown): void {
  for (const l of target.listeners(type) as Wrapped[]) {
    if (l[kForOnAttribute]) {
      target.removeListener(type, l);
      break;
    }
  }
  if (typeof handler === 'function') {
    addEventListener(target, type, handler as EventHandler, { [kForOnAttribute]: true });
  }
}
