// Runs the sections against a server (our raw client connects to it) or
// against a client (it connects to our crafted server), one case at a time.
import type { TlsOptions } from 'node:tls';
import type { Case, Outcome, Result } from './case-types.js';
import { failed } from './case-types.js';
import { SECTIONS } from './cases/index.js';
import { CraftedServer } from './crafted-server.js';
import type { Accepted } from './crafted-server.js';
import type { Peer, Side } from './peer.js';
import { connectRawClient } from './raw-client.js';
import type { Target } from './raw-client.js';
import { caseLine, defaultLog, summaryLines } from './report.js';
import type { Log } from './report.js';

export type { Result } from './case-types.js';

export interface RunOptions {
  /** Which cases to run (default: all that apply to the side). */
  filter?: (c: Case) => boolean;
  log?: Log;
}

/** Opens a client under test that echoes every data message and closes when the server closes. */
export interface ClientAdapter {
  open(url: string): Promise<void>;
}

const DEFAULT_CASE_MS = 10_000;

function applies(c: Case, side: Side): boolean {
  if (c.sides && !c.sides.includes(side)) return false;
  if (c.deflate) return side === 'server' ? c.deflate.offer !== undefined : c.deflate.response !== undefined;
  return true;
}

/** Runs `c` on `peer`, bounded in time; the peer is always torn down afterwards. */
async function play(c: Case, peer: Peer): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const limit = c.timeoutMs ?? DEFAULT_CASE_MS;
  try {
    return await Promise.race([
      c.run(peer).catch((err: Error) => failed(`case error: ${err.message}`)),
      new Promise<Outcome>((resolve) => {
        timer = setTimeout(() => resolve(failed(`case did not finish within ${limit} ms`)), limit);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    peer.destroy();
  }
}

async function runAll(
  side: Side,
  opts: RunOptions,
  runOne: (c: Case, index: number) => Promise<Outcome>,
): Promise<Result[]> {
  const log = opts.log ?? defaultLog;
  const results: Result[] = [];
  const t0 = Date.now();
  let index = 0;
  for (const section of SECTIONS) {
    for (const c of section.cases) {
      if (!applies(c, side) || (opts.filter && !opts.filter(c))) continue;
      const start = Date.now();
      const outcome = await runOne(c, index++);
      const r: Result = { ...outcome, id: c.id, section: section.id, description: c.description, side, ms: Date.now() - start };
      results.push(r);
      log(caseLine(r));
    }
  }
  for (const line of summaryLines(side, results, Date.now() - t0)) log(line);
  return results;
}

/** Runs every server-side case against the WebSocket server at `target`. */
export function runServerSuite(target: Target & RunOptions): Promise<Result[]> {
  return runAll('server', target, async (c) => {
    let peer: Peer;
    try {
      peer = await connectRawClient(target, { extensions: c.deflate?.offer });
    } catch (err) {
      return failed(`handshake: ${(err as Error).message}`);
    }
    if (c.deflate && !peer.deflate) {
      peer.destroy();
      return { verdict: 'UNIMPLEMENTED', reason: `server declined "${c.deflate.offer}"` };
    }
    return play(c, peer);
  });
}

/**
 * Runs every client-side case: for each, the adapter opens a client to our crafted server (wss:// on node:tls
 * when `tls` gives its key and cert).
 */
export async function runClientSuite(adapter: ClientAdapter, opts: RunOptions & { tls?: TlsOptions } = {}): Promise<Result[]> {
  const server = new CraftedServer(opts.tls);
  const port = await server.listen();
  try {
    return await runAll('client', opts, async (c, index) => {
      const path = `/case/${index}`;
      const accepted = server.expect(path, { deflateResponse: c.deflate?.response }, 5000);
      const opening = adapter.open(`${opts.tls ? 'wss' : 'ws'}://127.0.0.1:${port}${path}`).then(() => null, (err: Error) => err);
      let a: Accepted;
      try {
        a = await accepted;
      } catch (err) {
        const openErr = await opening;
        return failed(`client did not connect: ${(err as Error).message}${openErr ? ` (${openErr.message})` : ''}`);
      }
      if ('declined' in a) return { verdict: 'UNIMPLEMENTED', reason: a.declined };
      return play(c, a.peer);
    });
  } finally {
    await server.close();
  }
}
