// scenarios.mjs: the issue 5 scenarios and how one run of one scenario against one server is measured.
import { cpus } from 'node:os';
import { readCpuTicks, sleep, startProcess, stopProcess, waitForExit, waitForLine } from './processes.mjs';
import { FANOUT_SERVERS, startServer } from './servers.mjs';

/**
 * kind: echo (msgs/s), idle (bytes of server RSS per open connection), churn (completed
 * connect + handshake + close handshakes per second), fanout (messages delivered to receivers per
 * second). 64 B messages are binary so the servers are compared on framing alone; deflate is
 * text, as the issue asks.
 */
export const SCENARIOS = [
  { name: 'latency', kind: 'echo', conns: 1, inflight: 1, size: 64, text: false },
  { name: 'small', kind: 'echo', conns: 100, inflight: 1, size: 64, text: false },
  { name: 'pipelined', kind: 'echo', conns: 100, inflight: 10, size: 64, text: false },
  // The pipelined load against the server that serves connections on N worker threads (issue 8), beside the
  // single-threaded server; only the servers listed run it.
  { name: 'pipelined-threads', kind: 'echo', conns: 100, inflight: 10, size: 64, text: false,
    servers: ['ours', 'ours-t1', 'ours-t2'] },
  // The pipelined load on plain TCP through the stream transport (transport: 'stream') beside the fd transport.
  { name: 'pipelined-stream', kind: 'echo', conns: 100, inflight: 10, size: 64, text: false,
    servers: ['ours', 'ours-stream'] },
  // The pipelined load over TLS: the load client speaks wss, the servers run on https.createServer with one
  // certificate made for the bench run (options.tls); the C wslay server has no TLS and is left out.
  { name: 'wss', kind: 'echo', conns: 100, inflight: 10, size: 64, text: false, tls: true },
  { name: 'large', kind: 'echo', conns: 10, inflight: 4, size: 65536, text: false },
  { name: 'deflate', kind: 'echo', conns: 100, inflight: 10, size: 1024, text: true, deflate: true },
  { name: 'idle', kind: 'idle', conns: 5000 },
  { name: 'churn', kind: 'churn', conns: 10 },
  // Fan-out (issue 15): one sender and 1,000 receivers, 64 B binary messages, 1 and 10 messages in flight; the rate
  // is messages delivered to receivers per second, srv µs/op the server's CPU per delivered message. Run by the
  // fan-out servers only (bench/fanout-server.mjs).
  { name: 'fanout', kind: 'fanout', conns: 1000, inflight: 1, size: 64, text: false, servers: FANOUT_SERVERS },
  { name: 'fanout-pipelined', kind: 'fanout', conns: 1000, inflight: 10, size: 64, text: false, servers: FANOUT_SERVERS },
];

function lastJson(proc, what) {
  for (let i = proc.lines.length - 1; i >= 0; i--) {
    const line = proc.lines[i].trim();
    if (line.startsWith('{') && line.includes('"mode"')) return JSON.parse(line);
  }
  throw new Error(`${what}: no result line (exit ${proc.exitCode}): ${proc.stderr.trim()}`);
}

function clientArgs(port, scenario, options, extra = []) {
  const args = ['--port', String(port), '--conns', String(scenario.conns), ...extra];
  if (scenario.kind === 'echo') {
    args.push('--inflight', String(scenario.inflight), '--size', String(scenario.size));
    args.push(scenario.text ? '--text' : '--binary');
    if (scenario.deflate) args.push('--deflate');
    if (scenario.tls) args.push('--tls');
  }
  if (scenario.kind === 'fanout') {
    args.push('--inflight', String(scenario.inflight), '--size', String(scenario.size), '--binary');
  }
  return args;
}

/** Per-run metrics from the client's JSON (and the server's CPU it read from /proc). */
function throughputMetrics(result) {
  const { messages, seconds } = result;
  return {
    rate: result.msgs_per_sec,
    messages,
    seconds,
    server_us_per_op: result.server_cpu_seconds !== null && messages > 0 ? (result.server_cpu_seconds * 1e6) / messages : null,
    server_cpu_pct: result.server_cpu_seconds !== null ? (100 * result.server_cpu_seconds) / seconds : null,
    client_cpu_pct: (100 * result.client_cpu_seconds) / seconds,
    errors: result.errors,
    deflate_negotiated: result.deflate_negotiated,
    compressed_echoes: result.compressed_echoes,
  };
}

async function runLoad(client, server, scenario, options) {
  const extra = ['--mode', scenario.kind, '--duration', String(options.duration), '--warmup', String(options.warmup),
    '--server-pid', String(server.pid)];
  const ticksBefore = readCpuTicks();
  const proc = startProcess(client, clientArgs(server.port, scenario, options, extra));
  const limitMs = (options.duration + options.warmup + 30) * 1000;
  const code = await waitForExit(proc, limitMs);
  const ticksAfter = readCpuTicks();
  if (code !== 0) throw new Error(`load client exited ${code}: ${proc.stderr.trim()}`);
  const result = lastJson(proc, 'load client');
  const metrics = throughputMetrics(result);
  metrics.server_rss = server.rss();
  // On a shared VM, time stolen by the hypervisor explains a slow round better than the code does.
  // Other processes on the machine (a parallel build, tests) skew a run as much as steal does.
  const spanTicks = ticksBefore && ticksAfter ? ticksAfter.total - ticksBefore.total : 0;
  metrics.steal_pct = spanTicks > 0 ? (100 * (ticksAfter.steal - ticksBefore.steal)) / spanTicks : null;
  const machineBusyPct = spanTicks > 0 ? (100 * cpus().length * (ticksAfter.busy - ticksBefore.busy)) / spanTicks : null;
  metrics.other_cpu_pct = machineBusyPct === null || metrics.server_cpu_pct === null ? null
    : Math.max(0, machineBusyPct - metrics.server_cpu_pct - metrics.client_cpu_pct);
  return metrics;
}

async function runIdle(client, server, scenario, options) {
  const conns = options.idleConns ?? scenario.conns;
  await sleep(options.settleMs);
  const before = server.rss();
  // The client holds its connections until we close its stdin (or its duration cap passes).
  const proc = startProcess(client, ['--port', String(server.port), '--mode', 'idle', '--conns', String(conns),
    '--duration', '120'], { stdin: 'pipe' });
  try {
    const ready = JSON.parse((await waitForLine(proc, /^\{"event":"ready".*\}$/, 90_000, 'idle client'))[0]);
    await sleep(options.settleMs);
    const after = server.rss();
    proc.child.stdin.end();
    const code = await waitForExit(proc, 10_000);
    if (code !== 0) throw new Error(`idle client exited ${code}: ${proc.stderr.trim()}`);
    const result = lastJson(proc, 'idle client');
    const open = Math.min(ready.connections, result.open);
    return {
      rate: open > 0 ? (after - before) / open : null, // bytes per connection
      connections: open,
      server_rss_before: before,
      server_rss_after: after,
      connect_seconds: ready.seconds,
      errors: result.errors,
    };
  } finally {
    await stopProcess(proc, 1000);
  }
}

/** One fresh server, one measurement. `server` is a catalog entry. */
export async function runScenario({ client, server, scenario, options }) {
  const running = await startServer(server, { deflate: Boolean(scenario.deflate), tls: scenario.tls ? options.tls : null });
  try {
    if (scenario.kind === 'idle') return await runIdle(client, running, scenario, options);
    return await runLoad(client, running, scenario, options);
  } finally {
    await running.stop();
  }
}

/** Unit of `rate` per scenario kind, and whether bigger is better. */
export function unitOf(scenario) {
  if (scenario.kind === 'idle') return { unit: 'B/conn', label: 'server RSS per idle connection', higherIsBetter: false };
  if (scenario.kind === 'churn') return { unit: 'conn/s', label: 'connect + handshake + close per second', higherIsBetter: true };
  if (scenario.kind === 'fanout') return { unit: 'msg/s', label: 'messages delivered to receivers per second', higherIsBetter: true };
  return { unit: 'msg/s', label: 'echoed messages per second', higherIsBetter: true };
}
