// `npm run bench -- --callgrind`: the load client's fixed-count phases, the callgrind dump parser, and one real
// run of the C wslay server under callgrind (skipped without valgrind); the load client's --tls against ours and
// ws on https (the wss scenario) and the TLS bucket of the dump's split. No speed is asserted: only that the
// counts are complete and consistent.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// @ts-expect-error plain ESM without types
import { buildBenchPrograms } from '../bench/lib/build.mjs';
// @ts-expect-error plain ESM without types
import { parseCallgrind, perMessage, runCallgrindScenario } from '../bench/lib/callgrind.mjs';
// @ts-expect-error plain ESM without types
import { startProcess, stopProcess, waitForExit, waitForLine } from '../bench/lib/processes.mjs';
// @ts-expect-error plain ESM without types
import { serverCatalog, startServer } from '../bench/lib/servers.mjs';
import { makeTestCertificates } from './helpers/tls-cert.js';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'bench');
const hasValgrind = (() => {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return existsSync('/usr/include/wslay/wslay.h');
  } catch {
    return false;
  }
})();

describe('load client --messages', () => {
  it('echoes exactly N messages per phase on the same connections and waits for stdin between phases', async () => {
    const built = buildBenchPrograms(benchDir);
    const catalog = serverCatalog({ repoDir: dirname(benchDir), benchDir, cServer: built.cServer });
    const server = await startServer(built.cServer ? catalog.c : catalog.ws);
    try {
      // 7 connections × 3 in flight do not divide 250: the last round hands out fewer.
      const load = startProcess(built.client, ['--port', String(server.port), '--conns', '7', '--inflight', '3',
        '--size', '100', '--binary', '--messages', '250', '--phases', '2'], { stdin: 'pipe' });
      const first = JSON.parse((await waitForLine(load, /^\{"event":"phase","phase":1.*\}$/, 20_000, 'phase 1'))[0]);
      expect(first).toMatchObject({ messages: 250, open: 7, errors: 0 });
      // Held: no second phase until a line arrives.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(load.lines.some((line: string) => line.includes('"phase":2'))).toBe(false);
      load.child.stdin.write('\n');
      const second = JSON.parse((await waitForLine(load, /^\{"event":"phase","phase":2.*\}$/, 20_000, 'phase 2'))[0]);
      expect(second).toMatchObject({ messages: 250, open: 7, errors: 0 });
      expect(load.exited).toBe(false); // holds its connections until stdin closes
      load.child.stdin.end();
      expect(await waitForExit(load, 10_000)).toBe(0);
      const result = JSON.parse(load.lines[load.lines.length - 1]);
      expect(result).toMatchObject({ mode: 'echo', messages: 500, length_mismatches: 0, errors: 0 });
      await stopProcess(load);
    } finally {
      await server.stop();
    }
  });
});

describe('load client --tls', () => {
  it.each(['ours', 'ws'])('echoes exactly N messages over TLS to %s on https.createServer', async (name) => {
    const built = buildBenchPrograms(benchDir);
    expect(built.clientHasTls, 'libssl-dev is installed, so the load client has --tls').toBe(true);
    const catalog = serverCatalog({ repoDir: dirname(benchDir), benchDir, cServer: built.cServer });
    const certs = makeTestCertificates();
    const server = await startServer(catalog[name], { tls: { cert: certs.certFile, key: certs.keyFile } });
    try {
      const load = startProcess(built.client, ['--port', String(server.port), '--tls', '--conns', '5', '--inflight', '4',
        '--size', '64', '--binary', '--messages', '300', '--phases', '1']);
      // stdin is /dev/null: the client exits after the phase.
      await waitForLine(load, /^\{"event":"phase","phase":1.*\}$/, 20_000, 'phase 1');
      expect(await waitForExit(load, 10_000)).toBe(0);
      const result = JSON.parse(load.lines[load.lines.length - 1]);
      expect(result).toMatchObject({ mode: 'echo', tls: true, open: 5, messages: 300, length_mismatches: 0, errors: 0 });
    } finally {
      await server.stop();
      certs.remove();
    }
  });
});

describe('callgrind dump parser', () => {
  // Compressed names, a call whose inclusive cost must not count as the caller's own, and malloc calls.
  const dump = [
    'version: 1', 'positions: line', 'events: Ir', 'summary: 1110', '',
    'ob=(1) /usr/lib/x86_64-linux-gnu/libwslay.so.0', 'fl=(1) ???', 'fn=(1) wslay_event_recv', '0 500',
    'cob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6', 'cfi=(2) malloc.c', 'cfn=(2) malloc', 'calls=2 0', '0 100',
    '+3 10', '',
    'ob=(2)', 'fl=(2)', 'fn=(2)', '0 100', '',
    'ob=(3) /work/build/Release/wslay.node', 'fl=(1)', 'fn=(3) wslay_node::Session::OnRecv(unsigned char*, unsigned long)',
    '0 400', 'cob=(1)', 'cfi=(1)', 'cfn=(1)', 'calls=1 0', '0 610', '',
    'ob=(4) /usr/bin/node', 'fl=(1)', 'fn=(4) Builtins_LoadIC', '0 100', 'totals: 1110', '',
  ].join('\n');

  it('adds self cost per function, skips call costs, counts malloc calls', () => {
    const parsed = parseCallgrind(dump);
    expect(parsed.total).toBe(1110);
    expect(parsed.summary).toBe(1110);
    expect(parsed.mallocCalls).toBe(2);
    const figures = perMessage(parsed, 10);
    expect(figures.instructions_per_msg).toBe(111);
    expect(figures.buckets).toEqual({ libwslay: 51, 'malloc/free': 10, addon: 40, JS: 10 });
    expect(figures.malloc_per_msg).toBe(0.2);
    expect(figures.top_functions[0]).toMatchObject({ function: '???:wslay_event_recv', object: 'libwslay.so.0', ir: 51 });
  });

  it('puts OpenSSL linked into node (by source file or symbol) and node::crypto into the TLS bucket', () => {
    const tlsDump = [
      'version: 1', 'positions: line', 'events: Ir', 'summary: 1000', '',
      'ob=(1) /usr/bin/node', 'fl=(1) ../deps/openssl/openssl/ssl/record/rec_layer_s3.c', 'fn=(1) ssl3_read_bytes', '0 200',
      'fl=(2) ???', 'fn=(2) aesni_gcm_encrypt', '0 150',
      'fn=(3) node::crypto::TLSWrap::ClearOut()', '0 50',
      'fl=(3) ../src/stream_base.cc', 'fn=(4) node::StreamBase::WriteV(v8::FunctionCallbackInfo<v8::Value> const&)', '0 300',
      'fl=(2)', 'fn=(5) Builtins_CallFunction', '0 100',
      'ob=(2) /work/build/Release/wslay.node', 'fl=(2)', 'fn=(6) wslay_node::Session::Feed()', '0 200', '',
    ].join('\n');
    const figures = perMessage(parseCallgrind(tlsDump), 10);
    expect(figures.buckets).toEqual({ TLS: 40, 'node+V8': 30, JS: 10, addon: 20 });
    expect(figures.tls_share_pct).toBe(40);
  });

  it('refuses a dump whose self costs do not add up to its summary', () => {
    expect(() => perMessage(parseCallgrind(dump.replace('summary: 1110', 'summary: 2000')), 10)).toThrow(/summary/);
  });
});

describe.skipIf(!hasValgrind)('callgrind run', () => {
  it('counts the measured phase of the C wslay server: every message, split by object', async () => {
    const built = buildBenchPrograms(benchDir);
    const catalog = serverCatalog({ repoDir: dirname(benchDir), benchDir, cServer: built.cServer });
    const scenario = { name: 'pipelined', kind: 'echo', conns: 10, inflight: 4, size: 64, text: false };
    const figures = await runCallgrindScenario({ client: built.client, server: catalog.c, scenario, messages: 2000,
      outDir: join(benchDir, '.bin', 'callgrind-test'), tag: 'test-c' });
    expect(figures.messages).toBe(2000);
    expect(figures.errors).toBe(0);
    expect(existsSync(figures.dump)).toBe(true);
    // The server's work is in libwslay and its own binary; the buckets add up to the total (rounding aside).
    expect(figures.buckets.libwslay).toBeGreaterThan(0);
    expect(figures.buckets['server binary']).toBeGreaterThan(0);
    const sum = Object.values(figures.buckets as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - figures.instructions_per_msg)).toBeLessThanOrEqual(Object.keys(figures.buckets).length);
    expect(figures.top_functions.some((f: { function: string }) => f.function.endsWith(':wslay_frame_recv'))).toBe(true);
  }, 120_000);
});
