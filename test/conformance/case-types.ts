// What a conformance case is and what running one yields, Autobahn-style.
import type { Peer, Side } from './peer.js';

/**
 * OK: the strict behaviour. NON-STRICT: acceptable but not strict (e.g. TCP
 * dropped instead of a 1002 close). FAILED: wrong behaviour. UNIMPLEMENTED:
 * an optional feature (permessage-deflate) the implementation did not accept.
 */
export type Verdict = 'OK' | 'NON-STRICT' | 'FAILED' | 'UNIMPLEMENTED';

export interface Outcome {
  verdict: Verdict;
  reason: string;
}

export interface DeflateSetup {
  /** Server suite: Sec-WebSocket-Extensions value our client offers. */
  offer?: string;
  /** Client suite: permessage-deflate parameters our server answers with ('' = defaults). */
  response?: string;
}

export interface Case {
  /** Autobahn-like number, e.g. '5.6'. */
  id: string;
  description: string;
  /** Which implementations the case applies to; both when absent. */
  sides?: Side[];
  /** Present for permessage-deflate cases. */
  deflate?: DeflateSetup;
  /** Upper bound for the whole case (default 10 s). */
  timeoutMs?: number;
  run(peer: Peer): Promise<Outcome>;
}

export interface Section {
  /** '1', '2', ... '12/13'. */
  id: string;
  title: string;
  cases: Case[];
}

export interface Result extends Outcome {
  id: string;
  section: string;
  description: string;
  side: Side;
  ms: number;
}

export const ok = (reason: string): Outcome => ({ verdict: 'OK', reason });
export const nonStrict = (reason: string): Outcome => ({ verdict: 'NON-STRICT', reason });
export const failed = (reason: string): Outcome => ({ verdict: 'FAILED', reason });

/** The worse of two outcomes (FAILED > NON-STRICT > OK); the first wins a tie. */
export function worst(a: Outcome, b: Outcome): Outcome {
  const rank: Record<Verdict, number> = { OK: 0, UNIMPLEMENTED: 1, 'NON-STRICT': 2, FAILED: 3 };
  return rank[b.verdict] > rank[a.verdict] ? b : a;
}
