// `npm run bench -- --only fanout`: the load client's fanout mode against each fan-out server of
// bench/fanout-server.mjs. No speed is asserted: only that every receiver gets every message (one that missed some
// would stall the client's window: stalls > 0) and the counts add up.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// @ts-expect-error plain ESM without types
import { buildBenchPrograms } from '../bench/lib/build.mjs';
// @ts-expect-error plain ESM without types
import { startProcess, waitForExit } from '../bench/lib/processes.mjs';
// @ts-expect-error plain ESM without types
import { FANOUT_SERVERS, serverCatalog, startServer } from '../bench/lib/servers.mjs';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench');
const RECEIVERS = 30;

interface FanoutResult {
  mode: string;
  receivers: number;
  open: number;
  messages: number;
  publishes: number;
  stalls: number;
  length_mismatches: number;
  errors: number;
}

describe('load client --mode fanout', () => {
  const built = buildBenchPrograms(benchDir);
  const catalog = serverCatalog({ repoDir: dirname(benchDir), benchDir, cServer: built.cServer });

  it.each(FANOUT_SERVERS as string[])('%s delivers each message to every receiver', async (name) => {
    const server = await startServer(catalog[name]);
    try {
      const load = startProcess(built.client, ['--port', String(server.port), '--mode', 'fanout', '--conns',
        String(RECEIVERS), '--inflight', '4', '--size', '64', '--binary', '--duration', '0.5', '--warmup', '0.2']);
      expect(await waitForExit(load, 20_000)).toBe(0);
      const result = JSON.parse(load.lines[load.lines.length - 1]) as FanoutResult;
      expect(result).toMatchObject({ mode: 'fanout', receivers: RECEIVERS, open: RECEIVERS + 1, stalls: 0,
        length_mismatches: 0, errors: 0 });
      expect(result.publishes).toBeGreaterThan(0);
      // The window keeps at most 4 messages in flight; what is delivered in the measured window is within those
      // of the publishes made in it.
      expect(Math.abs(result.messages - result.publishes * RECEIVERS)).toBeLessThanOrEqual(4 * RECEIVERS);
    } finally {
      await server.stop();
    }
  });
});
