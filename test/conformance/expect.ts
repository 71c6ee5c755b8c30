// Judging what the implementation under test did, shared by every section:
// "echoes exactly these messages and closes cleanly", "fails the connection
// with code X", "replies to our close with code X", and fail-fast timing.
import { Op } from './frame-codec.js';
import type { Peer, PeerEvent } from './peer.js';
import { failed, nonStrict, ok, worst } from './case-types.js';
import type { Outcome } from './case-types.js';

export interface Expected {
  kind: 'message' | 'pong';
  opcode: number;
  data: Buffer;
}

const buf = (d: Buffer | string): Buffer => (typeof d === 'string' ? Buffer.from(d) : d);
export const text = (d: Buffer | string): Expected => ({ kind: 'message', opcode: Op.text, data: buf(d) });
export const binary = (d: Buffer | string): Expected => ({ kind: 'message', opcode: Op.binary, data: buf(d) });
export const pong = (d: Buffer | string = ''): Expected => ({ kind: 'pong', opcode: Op.pong, data: buf(d) });

const TCP_CLOSE_MS = 2000;

function describe(x: Expected | PeerEvent): string {
  if ('kind' in x) return x.kind === 'pong' ? `pong(${x.data.length} B)` : `${x.opcode === Op.text ? 'text' : 'binary'}(${x.data.length} B)`;
  switch (x.type) {
    case 'message': return `${x.opcode === Op.text ? 'text' : 'binary'}(${x.data.length} B)`;
    case 'ping': case 'pong': return `${x.type}(${x.data.length} B)`;
    case 'close': return `close(${x.code ?? 'no code'})`;
    case 'end': return 'TCP close';
    case 'reset': return `TCP reset (${x.error})`;
    case 'violation': return x.reason;
  }
}

function sameBytes(a: Buffer, b: Buffer): string | null {
  if (a.equals(b)) return null;
  if (a.length !== b.length) return `${a.length} B instead of ${b.length} B`;
  let i = 0;
  while (a[i] === b[i]) i++;
  return `payload differs at byte ${i}`;
}

/** Matches messages and pongs against expectations, each kind in its own order. */
class Matcher {
  private msgs: Expected[];
  private pongs: Expected[];

  constructor(expected: Expected[]) {
    this.msgs = expected.filter((e) => e.kind === 'message');
    this.pongs = expected.filter((e) => e.kind === 'pong');
  }

  get done(): boolean {
    return this.msgs.length === 0 && this.pongs.length === 0;
  }

  missing(): string {
    return [...this.msgs, ...this.pongs].map(describe).join(', ');
  }

  /** Null when `ev` was the next expected item, else what was wrong with it. */
  offer(ev: PeerEvent & { type: 'message' | 'pong' }): string | null {
    const queue = ev.type === 'pong' ? this.pongs : this.msgs;
    const want = queue[0];
    if (!want) return `unexpected ${describe(ev)}`;
    if (ev.type === 'message' && ev.opcode !== want.opcode) return `got ${describe(ev)}, expected ${describe(want)}`;
    const diff = sameBytes(ev.data, want.data);
    if (diff) return `${describe(ev)} does not match the expected ${describe(want)}: ${diff}`;
    queue.shift();
    return null;
  }
}

type Stop =
  | { kind: 'close'; code: number | null; at: number }
  | { kind: 'tcp'; what: string }
  | { kind: 'problem'; reason: string }
  | { kind: 'timeout' };

/**
 * Reads events until the matcher is satisfied (when `untilMatched`) or until
 * a close frame / TCP close. Pings from the implementation are answered.
 */
async function drain(peer: Peer, m: Matcher, timeoutMs: number, untilMatched: boolean): Promise<Stop> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (untilMatched && m.done) return { kind: 'timeout' };
    const ev = await peer.next(deadline - Date.now());
    if (!ev) return { kind: 'timeout' };
    switch (ev.type) {
      case 'message':
      case 'pong': {
        const problem = m.offer(ev);
        if (problem) return { kind: 'problem', reason: problem };
        break;
      }
      case 'ping':
        peer.send({ opcode: Op.pong, payload: ev.data });
        break;
      case 'close':
        return { kind: 'close', code: ev.code, at: ev.at };
      case 'end':
      case 'reset':
        return { kind: 'tcp', what: describe(ev) };
      case 'violation':
        return { kind: 'problem', reason: ev.reason };
    }
  }
}

/** After the close frames: the server must close TCP; against a client we close first and it must follow. */
async function tcpShutdown(peer: Peer): Promise<Outcome> {
  if (peer.side === 'client') peer.endTcp();
  const deadline = Date.now() + TCP_CLOSE_MS;
  for (;;) {
    const ev = await peer.next(deadline - Date.now());
    if (!ev) return nonStrict(`${peer.side} did not close TCP within ${TCP_CLOSE_MS} ms of the closing handshake`);
    if (ev.type === 'end' || ev.type === 'reset') return ok('');
    if (ev.type === 'violation') return failed(ev.reason);
    return failed(`${describe(ev)} after the close frame`);
  }
}

const codeText = (c: number | null): string => (c === null ? 'no code' : String(c));

/**
 * Sends a close frame with `body` (unless `body` is null: already sent) and
 * judges the reply: a close with one of `codes`, then TCP close. `mayPrecede`
 * lists messages that may still arrive before the reply (sent before our close).
 */
export async function expectCloseReply(
  peer: Peer,
  body: Buffer | null,
  codes: (number | null)[],
  opts: { mayPrecede?: Expected[]; timeoutMs?: number } = {},
): Promise<Outcome> {
  if (body) peer.send({ opcode: Op.close, payload: body });
  const m = new Matcher(opts.mayPrecede ?? []);
  const timeoutMs = opts.timeoutMs ?? 2000;
  const stop = await drain(peer, m, timeoutMs, false);
  let outcome: Outcome;
  switch (stop.kind) {
    case 'timeout': return failed(`no close frame within ${timeoutMs} ms of ours`);
    case 'problem': return failed(stop.reason);
    case 'tcp': return nonStrict(`${stop.what} without a close frame in reply to ours`);
    case 'close':
      outcome = codes.includes(stop.code)
        ? ok(`close answered with ${codeText(stop.code)}`)
        : nonStrict(`close answered with ${codeText(stop.code)}, expected ${codes.map(codeText).join(' or ')}`);
  }
  return worst(outcome, await tcpShutdown(peer));
}

/** Waits for every expected echo/pong, then closes with 1000 and expects a clean close. */
export async function expectEcho(peer: Peer, expected: Expected[], timeoutMs = 5000): Promise<Outcome> {
  const m = new Matcher(expected);
  const stop = await drain(peer, m, timeoutMs, true);
  if (!m.done) {
    switch (stop.kind) {
      case 'timeout': return failed(`timed out after ${timeoutMs} ms waiting for ${m.missing()}`);
      case 'problem': return failed(stop.reason);
      case 'tcp': return failed(`${stop.what} while waiting for ${m.missing()}`);
      case 'close': return failed(`closed with ${codeText(stop.code)} while waiting for ${m.missing()}`);
    }
  }
  const closing = await expectCloseReply(peer, Buffer.from([0x03, 0xe8]), [1000]);
  return closing.verdict === 'OK' ? ok(`${expected.length} echo(es) matched, clean close`) : closing;
}

/** Result of waiting for the implementation to fail the connection, or 'timeout'. */
async function awaitFailure(peer: Peer, m: Matcher, codes: number[], timeoutMs: number): Promise<Outcome | 'timeout'> {
  const stop = await drain(peer, m, timeoutMs, false);
  let outcome: Outcome;
  switch (stop.kind) {
    case 'timeout': return 'timeout';
    case 'problem': return failed(`did not fail the connection: ${stop.reason}`);
    case 'tcp': outcome = nonStrict(`${stop.what} without a close frame (expected ${codes.join('/')})`); break;
    case 'close':
      outcome = stop.code !== null && codes.includes(stop.code)
        ? ok(`failed with ${stop.code}`)
        : nonStrict(`closed with ${codeText(stop.code)}, expected ${codes.join('/')}`);
  }
  if (!m.done) outcome = worst(outcome, nonStrict(`failed before answering ${m.missing()}`));
  if (stop.kind === 'close') {
    if (!peer.sentClose) peer.sendClose(stop.code ?? undefined);
    outcome = worst(outcome, await tcpShutdown(peer));
  }
  return outcome;
}

/**
 * The implementation must fail the connection with one of `codes` (after
 * answering `before`, the valid traffic that preceded the violation).
 */
export async function expectFailure(
  peer: Peer,
  codes: number[] = [1002],
  opts: { before?: Expected[]; timeoutMs?: number } = {},
): Promise<Outcome> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const r = await awaitFailure(peer, new Matcher(opts.before ?? []), codes, timeoutMs);
  return r === 'timeout' ? failed(`connection not failed within ${timeoutMs} ms (expected ${codes.join('/')})`) : r;
}

/**
 * Fail-fast check: `sendInvalid` delivers the byte that makes the message
 * invalid; the implementation must fail within `waitMs`, before `sendRest`
 * completes the message. Failing only after the rest is NON-STRICT.
 */
export async function expectFailFast(
  peer: Peer,
  sendInvalid: () => Promise<void> | void,
  sendRest: () => Promise<void> | void,
  codes: number[] = [1007],
  waitMs = 300,
): Promise<Outcome> {
  await sendInvalid();
  const t0 = Date.now();
  const m = new Matcher([]);
  const early = await awaitFailure(peer, m, codes, waitMs);
  if (early !== 'timeout') {
    return early.verdict === 'OK' ? ok(`${early.reason} ${Date.now() - t0} ms after the invalid byte (fail-fast)`) : early;
  }
  await sendRest();
  const late = await awaitFailure(peer, m, codes, 2000);
  if (late === 'timeout') return failed(`connection not failed even after the whole message (expected ${codes.join('/')})`);
  return worst(late, nonStrict(`not failed within ${waitMs} ms of the invalid byte, only after the rest of the message`));
}

/**
 * For input the RFC forbids but many implementations tolerate: failing with
 * one of `codes` is OK; echoing `expected` instead is NON-STRICT (`tolerated`).
 */
export async function expectRejection(
  peer: Peer,
  expected: Expected[],
  tolerated: string,
  codes: number[] = [1002],
): Promise<Outcome> {
  const first = await peer.next(2000);
  if (first) peer.putBack(first);
  if (first?.type !== 'message' && first?.type !== 'pong') return expectFailure(peer, codes);
  const echoed = await expectEcho(peer, expected);
  return worst(echoed, nonStrict(tolerated));
}
