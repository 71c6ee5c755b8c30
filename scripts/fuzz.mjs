#!/usr/bin/env node
// npm run fuzz [-- --seconds N]: builds fuzz/receive_fuzzer.cc with clang's libFuzzer plus AddressSanitizer and
// UndefinedBehaviorSanitizer (into build/fuzz/, when a source changed), then fuzzes for N seconds (default 60)
// starting from the seed corpus in fuzz/corpus/. New inputs go to build/fuzz/corpus/, crashes to build/fuzz/.
// Needs clang with its runtime (Debian: clang-14 libclang-rt-14-dev), zlib1g-dev and libwslay-dev.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
};
const seconds = Number(arg('--seconds', 60));
const outDir = join(root, 'build', 'fuzz');
const binary = join(outDir, 'receive_fuzzer');
const sources = ['fuzz/receive_fuzzer.cc', 'native/session.cc', 'native/deflate.cc', 'native/utf8.cc',
  'native/socket_io.cc', 'native/thread_buffers.cc'];
const headers = ['native/session.h', 'native/message_buffer.h', 'native/frame_boundary.h', 'native/deflate.h', 'native/utf8.h', 'native/socket_io.h', 'native/thread_buffers.h',
  'native/transport.h'];

const clang = ['clang++', 'clang++-14', 'clang++-15', 'clang++-16'].find(
  (c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0,
);
if (!clang) {
  console.error('fuzz: clang++ not found: install clang and its runtime (Debian: apt-get install clang-14 libclang-rt-14-dev)');
  process.exit(1);
}

mkdirSync(join(outDir, 'corpus'), { recursive: true });
const built = existsSync(binary) ? statSync(binary).mtimeMs : 0;
if ([...sources, ...headers].some((f) => statSync(join(root, f)).mtimeMs > built)) {
  console.log(`fuzz: building ${binary} with ${clang}`);
  const r = spawnSync(
    clang,
    ['-std=c++17', '-g', '-O1', '-fsanitize=fuzzer,address,undefined', '-fno-sanitize-recover=undefined',
      ...sources, '-lwslay', '-lz', '-o', binary],
    { cwd: root, stdio: 'inherit' },
  );
  if (r.status !== 0) process.exit(r.status ?? 1);
}

console.log(`fuzz: running for ${seconds} s`);
const r = spawnSync(
  binary,
  [`-max_total_time=${seconds}`, '-max_len=80000', '-rss_limit_mb=2048', '-print_final_stats=1',
    `-artifact_prefix=${outDir}/`, join(outDir, 'corpus'), join(root, 'fuzz', 'corpus')],
  { cwd: root, stdio: 'inherit', env: { ...process.env, UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1' } },
);
process.exit(r.status ?? 1);
