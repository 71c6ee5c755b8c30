#!/usr/bin/env node
// run.mjs: `npm run bench` (issue 5). Builds the C programs, then runs every scenario against
// each server, started fresh per run, alternating servers over rounds; reports medians and
// ratios as a table, bench/results/latest.json and bench/results/chart.svg.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBenchPrograms, makeBenchCertificate } from './lib/build.mjs';
import { DEFAULT_MESSAGES, callgrindAvailable, formatCallgrindTable, functionChanges, runCallgrindScenario } from './lib/callgrind.mjs';
import { renderChart } from './lib/chart.mjs';
import { formatTable, machineInfo, packageVersion, ratiosFor, summarize } from './lib/report.mjs';
import { SCENARIOS, runScenario, unitOf } from './lib/scenarios.mjs';
import { FANOUT_SERVERS, gitRevision, serverCatalog } from './lib/servers.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const SERVER_NAMES = ['base', 'ours', 'ours-ws', 'ws', 'c', 'ours-t1', 'ours-t2', 'ours-stream', ...FANOUT_SERVERS];
const CALLGRIND_SCENARIOS = ['pipelined', 'small', 'large', 'wss'];
const repoDir = dirname(benchDir);

const USAGE = `usage: node bench/run.mjs [options]
  --smoke               every scenario ~1 s, 1 round, 1000 idle connections (CI; no speed asserts)
  --rounds N            rounds per scenario; the median is reported (default 3)
  --duration S          measured seconds per run (default 5), after --warmup S (default 1)
  --only a,b            scenarios: ${SCENARIOS.map((s) => s.name).join(',')}
                        (wss: the load client speaks TLS to ours and ws on https.createServer, one certificate
                        made per run into bench/.bin/; the C server has no TLS and sits it out)
  --servers a,b         servers: base,ours,ours-ws,ws,c,ours-t1,ours-t2,ours-stream (default all that are available;
                        ours-tN is the echo server on N worker threads, run by pipelined-threads only; ours-stream
                        by pipelined-stream only; ${FANOUT_SERVERS.join(',')} by fanout and
                        fanout-pipelined only)
  --base DIR            also run server "base": the npm start server of another checkout of this repo
                        (built there), e.g. a worktree of the commit before a change
  --callgrind           instructions per echoed message under valgrind's callgrind instead of wall-clock
                        figures (default scenarios ${CALLGRIND_SCENARIOS.join(',')}; plain echo scenarios only: not
                        deflate, idle or churn); writes callgrind.json
  --messages N          with --callgrind: messages per phase (warm-up, then measured; default per scenario)
  --idle-conns N        connections in the idle scenario (default 5000)
  --out DIR             where latest.json and chart.svg go (default bench/results;
                        --smoke defaults to bench/.bin/smoke-results so it never overwrites them)`;

function parseArgs(argv) {
  const options = { smoke: false, rounds: 3, duration: 5, warmup: 1, only: null, servers: [...SERVER_NAMES],
    idleConns: 5000, settleMs: 1000, out: null, callgrind: false, messages: null, base: null };
  const value = (i) => {
    if (i + 1 >= argv.length) fail(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  const number = (i) => {
    const n = Number(value(i));
    if (!Number.isFinite(n) || n <= 0) fail(`${argv[i]} needs a positive number`);
    return n;
  };
  const smoke = argv.includes('--smoke');
  if (smoke) Object.assign(options, { smoke, rounds: 1, duration: 1, warmup: 0.3, idleConns: 1000, settleMs: 300 });
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--smoke': break;
      case '--rounds': options.rounds = Math.round(number(i)); i++; break;
      case '--duration': options.duration = number(i); i++; break;
      case '--warmup': options.warmup = Number(value(i)); if (!(options.warmup >= 0)) fail('--warmup needs a number >= 0'); i++; break;
      case '--idle-conns': options.idleConns = Math.round(number(i)); i++; break;
      case '--only': options.only = value(i).split(','); i++; break;
      case '--servers': options.servers = value(i).split(','); i++; break;
      case '--out': options.out = value(i); i++; break;
      case '--base': options.base = value(i); i++; break;
      case '--callgrind': options.callgrind = true; break;
      case '--messages': options.messages = Math.round(number(i)); i++; break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default: fail(`unknown option ${argv[i]}`);
    }
  }
  for (const name of options.only ?? []) if (!SCENARIOS.some((s) => s.name === name)) fail(`unknown scenario ${name}`);
  for (const name of options.servers) if (!SERVER_NAMES.includes(name)) fail(`unknown server ${name}`);
  if (!argv.includes('--servers') && !options.base) options.servers = options.servers.filter((name) => name !== 'base');
  if (options.callgrind) {
    options.only ??= CALLGRIND_SCENARIOS;
    for (const name of options.only) {
      const scenario = SCENARIOS.find((s) => s.name === name);
      if (scenario.kind !== 'echo' || scenario.deflate) fail(`--callgrind measures plain echo scenarios only, not ${name}`);
    }
  }
  options.out ??= smoke ? join(benchDir, '.bin', 'smoke-results') : join(benchDir, 'results');
  return options;
}

function fail(message) {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

function describeRun(scenario, metrics) {
  const { unit } = unitOf(scenario);
  if (scenario.kind === 'idle') {
    return `${(metrics.rate / 1024).toFixed(1)} KB/conn over ${metrics.connections} conns`;
  }
  const us = metrics.server_us_per_op === null ? '-' : metrics.server_us_per_op.toFixed(2);
  return `${Math.round(metrics.rate).toLocaleString('en-US')} ${unit}, server ${us} µs/op ${Math.round(metrics.server_cpu_pct ?? 0)}% CPU, ` +
    `client ${Math.round(metrics.client_cpu_pct)}% CPU${metrics.other_cpu_pct > 10 ? `, others ${Math.round(metrics.other_cpu_pct)}%` : ''}` +
    `${metrics.steal_pct > 1 ? `, steal ${Math.round(metrics.steal_pct)}%` : ''}` +
    `${metrics.errors ? `, ${metrics.errors} errors` : ''}`;
}

/** --callgrind: each scenario once per server, instructions per message; writes callgrind.json. */
async function callgrindMain(options, built, catalog, servers, notes) {
  if (!(await callgrindAvailable())) {
    console.error('bench: --callgrind needs valgrind (apt-get install valgrind)');
    process.exit(2);
  }
  const scenarios = SCENARIOS.filter((s) => options.only.includes(s.name));
  servers = servers.filter((name) => !catalog[name].scenarioOnly); // the threaded servers: wall-clock only
  const dumpDir = join(benchDir, '.bin', 'callgrind');
  console.log(`bench: callgrind, ${scenarios.length} scenario(s) × ${servers.join(',')}; dumps in ${relative(process.cwd(), dumpDir)}`);
  const results = {
    date: new Date().toISOString(),
    tool: 'valgrind --tool=callgrind; counters zeroed after a warm-up phase of the same size, dumped after the measured phase',
    machine: machineInfo(),
    revision: gitRevision(repoDir),
    base: catalog.base.available ? { dir: catalog.base.dir, revision: catalog.base.revision } : null,
    versions: { ws: packageVersion(join(repoDir, 'node_modules', 'ws', 'package.json')),
      bufferutil: packageVersion(join(repoDir, 'node_modules', 'bufferutil', 'package.json')) },
    scenarios: [],
    notes,
  };
  let failures = 0;
  for (const scenario of scenarios) {
    const messages = options.messages ?? DEFAULT_MESSAGES[scenario.name] ?? 10_000;
    const entry = { name: scenario.name, conns: scenario.conns, inflight: scenario.inflight, size: scenario.size, messages, servers: {} };
    for (const name of servers) {
      const skipped = tlsSkip(scenario, catalog[name], built, notes, name);
      if (skipped) {
        entry.servers[name] = { label: catalog[name].label, skipped };
        continue;
      }
      const started = Date.now();
      try {
        const figures = await runCallgrindScenario({ client: built.client, server: catalog[name], scenario, messages,
          outDir: dumpDir, tag: `${scenario.name}-${name}`, tls: scenario.tls ? options.tls : null });
        figures.dump = relative(repoDir, figures.dump);
        entry.servers[name] = { label: catalog[name].label, ...figures };
        console.log(`[${scenario.name}] ${name}: ${figures.instructions_per_msg.toLocaleString('en-US')} instructions/msg ` +
          `(${figures.malloc_per_msg} malloc, ${figures.free_per_msg} free${figures.tls_share_pct ? `, ${figures.tls_share_pct}% TLS` : ''}), ` +
          `${Math.round((Date.now() - started) / 1000)} s`);
      } catch (error) {
        failures++;
        entry.servers[name] = { label: catalog[name].label, error: error.message };
        console.log(`[${scenario.name}] ${name}: FAILED ${error.message}`);
      }
    }
    // base against ours: the total's change and the functions behind it
    const [before, after] = [entry.servers.base, entry.servers.ours];
    if (before?.byName && after?.byName) {
      entry.ours_vs_base = {
        change_pct: Number((100 * (after.instructions_per_msg / before.instructions_per_msg - 1)).toFixed(2)),
        functions: functionChanges(before.byName, after.byName),
      };
      const pct = entry.ours_vs_base.change_pct;
      if (pct > 5) notes.push(`${scenario.name}: ours executes ${pct}% more instructions per message than base`);
    }
    for (const e of Object.values(entry.servers)) delete e.byName;
    results.scenarios.push(entry);
  }
  mkdirSync(options.out, { recursive: true });
  const jsonPath = join(options.out, 'callgrind.json');
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\ninstructions per echoed message (self cost by bucket; callgrind, ${results.machine.cpu})\n`);
  console.log(formatCallgrindTable(results));
  if (notes.length) console.log(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
  console.log(`\nwrote ${relative(process.cwd(), jsonPath)}`);
  if (failures) {
    console.error(`bench: ${failures} run(s) failed`);
    process.exitCode = 1;
  }
}

/**
 * Why `server` sits out a TLS scenario (it has no TLS, or the load client was built without OpenSSL), noted once
 * per server; null when it runs.
 */
function tlsSkip(scenario, server, built, notes, name) {
  if (!scenario.tls) return null;
  const reason = !built.clientHasTls ? 'load client built without OpenSSL' : server.tls ? null : (server.noTls ?? 'no TLS');
  if (reason && !notes.some((n) => n.startsWith(`${scenario.name}/${name} skipped`))) notes.push(`${scenario.name}/${name} skipped: ${reason}`);
  return reason;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const built = buildBenchPrograms(benchDir);
  const notes = [...built.notes];
  // One certificate for every server of the TLS scenarios, made once per run.
  const selected = SCENARIOS.filter((s) => !options.only || options.only.includes(s.name));
  if (built.clientHasTls && selected.some((s) => s.tls)) options.tls = makeBenchCertificate(benchDir);
  const catalog = serverCatalog({ repoDir, benchDir, cServer: built.cServer, baseDir: options.base });
  const servers = options.servers.filter((name) => {
    if (catalog[name].available) return true;
    const note = `${name} skipped: ${catalog[name].missing}`;
    console.log(`bench: ${note}`);
    notes.push(note);
    return false;
  });
  if (options.callgrind) return callgrindMain(options, built, catalog, servers, notes);
  const scenarios = selected;
  console.log(`bench: ${scenarios.length} scenario(s) × ${servers.join(',')} × ${options.rounds} round(s), ` +
    `${options.duration}s each (+${options.warmup}s warm-up)`);

  let failures = 0;
  const results = {
    date: new Date().toISOString(),
    machine: machineInfo(),
    versions: { ws: packageVersion(join(repoDir, 'node_modules', 'ws', 'package.json')),
      bufferutil: packageVersion(join(repoDir, 'node_modules', 'bufferutil', 'package.json')) },
    options: { rounds: options.rounds, duration: options.duration, warmup: options.warmup, smoke: options.smoke,
      idle_connections: options.idleConns },
    scenarios: [],
    notes,
  };

  for (const scenario of scenarios) {
    const entry = { ...scenario, ...unitOf(scenario), servers: {}, ratios: {} };
    if (scenario.kind === 'idle') entry.conns = options.idleConns;
    const runs = {};
    // A scenario may name its servers; servers marked scenarioOnly run only where named.
    const scenarioServers = servers.filter((name) =>
      scenario.servers ? scenario.servers.includes(name) : !catalog[name].scenarioOnly);
    for (const name of scenarioServers) {
      const noTls = tlsSkip(scenario, catalog[name], built, notes, name);
      if (noTls) entry.servers[name] = { skipped: noTls };
      else if (scenario.deflate && !built.clientHasDeflate) entry.servers[name] = { skipped: 'load client built without zlib' };
      else if (scenario.deflate && catalog[name].deflate === null) entry.servers[name] = { skipped: 'no permessage-deflate' };
      else runs[name] = [];
    }
    // A B C A B C: every round visits each server once, so drift hits all of them alike.
    for (let round = 1; round <= options.rounds; round++) {
      for (const name of Object.keys(runs)) {
        const tag = `[${scenario.name} ${round}/${options.rounds}] ${name}`;
        try {
          const metrics = await runScenario({ client: built.client, server: catalog[name], scenario, options });
          runs[name].push(metrics);
          console.log(`${tag}: ${describeRun(scenario, metrics)}`);
        } catch (error) {
          failures++;
          runs[name].push({ error: error.message });
          console.log(`${tag}: FAILED ${error.message}`);
        }
      }
    }
    const medians = {};
    const skipped = entry.servers;
    entry.servers = {};
    for (const name of scenarioServers) {
      if (!runs[name]) {
        entry.servers[name] = skipped[name];
        continue;
      }
      const list = runs[name];
      medians[name] = summarize(list);
      entry.servers[name] = { median: medians[name], runs: list };
      const m = medians[name];
      if (m && scenario.kind !== 'idle' && m.client_cpu_pct > 90) {
        notes.push(`${scenario.name}/${name}: load client at ${Math.round(m.client_cpu_pct)}% CPU, it may limit this result`);
      }
      if (m && scenario.deflate && !m.deflate_negotiated) notes.push(`${scenario.name}/${name}: permessage-deflate was not negotiated`);
      if (m && m.steal_pct > 5) notes.push(`${scenario.name}/${name}: ${Math.round(m.steal_pct)}% CPU steal (shared VM), expect noise`);
      if (m && m.other_cpu_pct > 25) {
        notes.push(`${scenario.name}/${name}: other processes used ~${Math.round(m.other_cpu_pct)}% of a core during the runs; rerun on a quiet machine`);
      }
      if (m && scenario.kind === 'idle' && m.rate < 0) notes.push(`${scenario.name}/${name}: server RSS shrank (GC) during the run: too few connections to measure`);
      if (m && scenario.kind !== 'idle' && !m.rate) notes.push(`${scenario.name}/${name}: nothing completed: the server never answered`);
      if (m && m.errors) notes.push(`${scenario.name}/${name}: median ${m.errors} client-side errors`);
    }
    entry.ratios = ratiosFor(medians);
    results.scenarios.push(entry);
  }

  mkdirSync(options.out, { recursive: true });
  const jsonPath = join(options.out, 'latest.json');
  const chartPath = join(options.out, 'chart.svg');
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(chartPath, renderChart(results));

  console.log(`\n${results.machine.cpu}, ${results.machine.cores} cores, Node ${results.machine.node}, ` +
    `medians of ${options.rounds} round(s); rate = msg/s (idle: server RSS per connection, churn: conn/s)\n`);
  console.log(formatTable(results));
  if (notes.length) console.log(`\nnotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);
  console.log(`\nwrote ${relative(process.cwd(), jsonPath)} and ${relative(process.cwd(), chartPath)}`);
  if (failures) {
    console.error(`bench: ${failures} run(s) failed`);
    process.exitCode = 1;
  }
}

await main();
