#!/usr/bin/env node
// npm run fuzz [-- --seconds N] [--target native|differential|send|handshake]: runs the fuzzers, splitting N
// seconds (default 60):
//   - receive_fuzzer (fuzz/receive_fuzzer.cc, libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer over
//     native/session.cc, built into build/fuzz/ when a source changed), three eighths of the time, after it has replayed
//     the saved inputs in fuzz/regressions/ (and fuzz/known/<FLAG>/ for each FUZZ_ORACLE_* flag set); seeds in
//     fuzz/corpus/ (fuzz/make-corpus.mjs), new inputs in build/fuzz/corpus/, crashes and the full log in
//     build/fuzz/;
//   - differential_fuzzer (fuzz/differential_fuzzer.cc: the receive fast path against the plain wslay path, same
//     sanitizers), a quarter, after fuzz/regressions/differential/; seeds in fuzz/corpus/differential/, new inputs
//     in build/fuzz/corpus-differential/;
//   - send_fuzzer (fuzz/send_fuzzer.cc: the same script of sends through the plain wslay path and the direct
//     frame writer, outputs compared), an eighth; new inputs in build/fuzz/send-corpus/;
//   - handshake-fuzzer (fuzz/handshake-fuzzer.mjs over dist/), the rest.
// A libFuzzer input running over 20 s counts as a finding (a hang). Prints one closing line per target; on a
// finding, its message, our stack frames and where the input and the log are. FUZZ_ORACLE_*=1 enable
// oracles that are off until known bugs are fixed (see the fuzzers' headers).
// Needs clang with its runtime (Debian: clang-14 libclang-rt-14-dev), zlib1g-dev and libwslay-dev.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
};
const seconds = Number(arg('--seconds', 60));
const target = arg('--target', 'all');
const outDir = join(root, 'build', 'fuzz');
const nativeSources = ['native/session.cc', 'native/session_quiet.cc', 'native/deflate.cc', 'native/utf8.cc',
  'native/socket_io.cc', 'native/thread_buffers.cc', 'native/frame_scanner.cc', 'native/frame_writer.cc'];
const headers = ['native/session.h', 'native/frame_writer.h', 'native/mask.h', 'native/message_buffer.h', 'native/frame_cursor.h', 'native/frame_scanner.h', 'native/deflate.h', 'native/utf8.h', 'native/socket_io.h', 'native/thread_buffers.h',
  'native/transport.h'];
// The libFuzzer targets: their source, saved inputs replayed first, seed corpus and where new inputs go.
const targets = {
  receive_fuzzer: { source: 'fuzz/receive_fuzzer.cc', regressions: 'fuzz/regressions', known: true,
    seeds: 'fuzz/corpus', corpus: join(outDir, 'corpus') },
  differential_fuzzer: { source: 'fuzz/differential_fuzzer.cc', regressions: 'fuzz/regressions/differential',
    known: false, seeds: 'fuzz/corpus/differential', corpus: join(outDir, 'corpus-differential') },
  send_fuzzer: { source: 'fuzz/send_fuzzer.cc', regressions: null, known: false, seeds: null,
    corpus: join(outDir, 'send-corpus') },
};

function runLibFuzzer(name, budget) {
  const { source, regressions: regressionDir, known, seeds, corpus } = targets[name];
  const binary = join(outDir, name);
  const sources = [source, ...nativeSources];
  mkdirSync(corpus, { recursive: true });
  const clang = ['clang++', 'clang++-14', 'clang++-15', 'clang++-16'].find(
    (c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0,
  );
  if (!clang) {
    console.error('fuzz: clang++ not found: install clang and its runtime (Debian: apt-get install clang-14 libclang-rt-14-dev)');
    return false;
  }
  const built = existsSync(binary) ? statSync(binary).mtimeMs : 0;
  if ([...sources, ...headers].some((f) => statSync(join(root, f)).mtimeMs > built)) {
    const r = spawnSync(
      clang,
      ['-std=c++17', '-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined',
        ...sources, '-lwslay', '-lz', '-o', binary],
      { cwd: root, encoding: 'utf8' },
    );
    if (r.status !== 0) {
      console.error(`fuzz: building ${binary} failed:\n${r.stderr}`);
      return false;
    }
  }
  const env = { ...process.env, UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' };
  const log = join(outDir, `${name}.log`);
  const fail = (what, output) => {
    writeFileSync(log, output);
    const artifact = /Test unit written to (\S+)/.exec(output)?.[1] ?? [...output.matchAll(/Running: (\S+)/g)].at(-1)?.[1];
    console.log(`fuzz: ${name}: ${what}${artifact ? `, input ${artifact}` : ''} (log: ${log})`);
    // What tripped and where: the oracle's or sanitizer's message, and the stack frames in our code.
    const lines = output.split('\n');
    const first = Math.max(0, lines.findIndex((l) => /_fuzzer oracle|differential_fuzzer: |ERROR: |runtime error/.test(l)));
    const ours = (l) => !/^\s+#\d+ /.test(l) || /\/(native|fuzz)\/\w+\.(cc|h):\d+/.test(l);
    console.log(lines.slice(first, first + 40).filter(ours).slice(0, 12).join('\n'));
    return false;
  };

  // The saved regressions first, each input once: fuzz/regressions/, and the reproducers of known bugs in
  // fuzz/known/<FLAG>/ whose oracle is enabled (<FLAG>=1), i.e. once the fix is in.
  const filesIn = (dir) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => join(dir, f)) : []);
  const knownDir = join(root, 'fuzz', 'known');
  const enabledKnown = known && existsSync(knownDir) ? readdirSync(knownDir).filter((flag) => process.env[flag] === '1') : [];
  const regressions = [...(regressionDir ? filesIn(join(root, regressionDir)) : []), ...enabledKnown.flatMap((f) => filesIn(join(knownDir, f)))];
  if (regressions.length) {
    const r = spawnSync(binary, regressions, { cwd: root, env, encoding: 'utf8' });
    if (r.status !== 0) return fail('a saved regression fails', r.stdout + r.stderr);
  }

  const r = spawnSync(
    binary,
    [`-max_total_time=${budget}`, '-max_len=80000', '-rss_limit_mb=2048', '-timeout=20', '-print_final_stats=1',
      `-artifact_prefix=${outDir}/${name}-`, corpus, ...(seeds ? [join(root, seeds)] : [])],
    { cwd: root, env, encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  const output = r.stdout + r.stderr;
  const stat = (name) => Number(new RegExp(`stat::${name}:\\s+(\\d+)`).exec(output)?.[1] ?? 0);
  if (r.status !== 0) return fail(`1 finding after ${stat('number_of_executed_units')} executions`, output);
  writeFileSync(log, output);
  const executions = stat('number_of_executed_units');
  console.log(`fuzz: ${name}: ${executions} executions in ${budget} s (${stat('average_exec_per_sec')}/s), ` +
    `${regressions.length} regressions replayed, 0 findings`);
  return true;
}

function runHandshake(budget) {
  const r = spawnSync(process.execPath, [join(root, 'fuzz', 'handshake-fuzzer.mjs'), '--seconds', String(budget)], {
    cwd: root,
    stdio: 'inherit',
  });
  return r.status === 0;
}

const handshakeSeconds = target === 'all' ? Math.max(1, Math.round(seconds / 4)) : seconds;
const differentialSeconds = target === 'all' ? Math.max(1, Math.round(seconds / 4)) : seconds;
const sendSeconds = target === 'all' ? Math.max(1, Math.round(seconds / 8)) : seconds;
let ok = true;
if (target === 'all' || target === 'native') {
  const receiveSeconds = target === 'all' ? seconds - handshakeSeconds - differentialSeconds - sendSeconds : seconds;
  ok = runLibFuzzer('receive_fuzzer', Math.max(1, receiveSeconds)) && ok;
}
if (target === 'all' || target === 'differential') ok = runLibFuzzer('differential_fuzzer', differentialSeconds) && ok;
if (target === 'all' || target === 'send') ok = runLibFuzzer('send_fuzzer', sendSeconds) && ok;
if (target === 'all' || target === 'handshake') ok = runHandshake(handshakeSeconds) && ok;
process.exit(ok ? 0 : 1);
