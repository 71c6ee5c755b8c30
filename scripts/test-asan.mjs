#!/usr/bin/env node
// `npm run test:asan`: the addon built with AddressSanitizer + UndefinedBehaviorSanitizer, then the vitest suite run
// against it; fails on any sanitizer report that involves our code.
//
// The sanitized addon is built in a scratch copy of the native sources (binding.gyp honours WSLAY_SANITIZE=1) and
// loaded through WSLAY_ADDON_PATH, so build/ keeps the normal flavour: other processes using build/ meanwhile (and the
// next `npm test`) never load an addon that needs libasan preloaded.
//
// Node itself is not instrumented: libasan is preloaded so its allocator sees every malloc. Leak detection stays on
// in vitest's workers (where the tests run our code), but only leaks that our addon or libwslay allocated count, and
// a few known ones of Node's are suppressed. Reports go to files (log_path): vitest does not forward native stderr.
//
//   node scripts/test-asan.mjs [vitest args…]      e.g. node scripts/test-asan.mjs test/close.test.ts
//   ASAN_KEEP=1 keeps the scratch directory (the addon and the raw reports) and prints where it is.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const vitestArgs = process.argv.slice(2);

function runtimeLibrary(name) {
  const file = execFileSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim();
  // gcc echoes the bare name back when it does not know the library.
  if (!path.isAbsolute(file) || !fs.existsSync(file)) {
    console.error(`test:asan: ${name} not found: install gcc's sanitizer runtimes (Debian: apt-get install gcc g++)`);
    process.exit(1);
  }
  return fs.realpathSync(file);
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-asan-'));
const reports = path.join(scratch, 'reports');
fs.mkdirSync(reports);
const cleanup = () => {
  if (process.env.ASAN_KEEP) console.log(`test:asan: kept ${scratch}`);
  else fs.rmSync(scratch, { recursive: true, force: true });
};

function buildSanitized() {
  for (const item of ['binding.gyp', 'native', 'deps', 'scripts/build-native.mjs']) {
    fs.cpSync(path.join(root, item), path.join(scratch, item), { recursive: true });
  }
  // binding.gyp asks node-addon-api for its include dir, build-native.mjs looks for node-gyp: both in node_modules.
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'));
  console.log('test:asan: building the addon with -fsanitize=address,undefined');
  const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], {
    cwd: scratch,
    encoding: 'utf8',
    env: { ...process.env, WSLAY_SANITIZE: '1' },
  });
  const addon = path.join(scratch, 'build', 'Release', 'wslay.node');
  if (r.status !== 0 || !fs.existsSync(addon)) {
    console.error(`${r.stdout}\n${r.stderr}\ntest:asan: the sanitized build failed`);
    cleanup();
    process.exit(1);
  }
  // Proof the flags reached the compiler: an unsanitized addon would make this run meaningless.
  const symbols = execFileSync('nm', ['-D', addon], { encoding: 'utf8' });
  if (!symbols.includes('__asan_') || !symbols.includes('__ubsan_')) {
    console.error('test:asan: the built addon has no sanitizer symbols (WSLAY_SANITIZE not honoured?)');
    cleanup();
    process.exit(1);
  }
  return addon;
}

// One report per file (log_path appends .PID). Leak reports: keep only the leaks allocated by our code, i.e. with our
// addon or libwslay among the first frames above the allocator. Deeper frames do not count: a process ended by an
// uncaught error thrown from one of our callbacks leaves V8's heap behind with our CallJs far down every stack.
const OURS = /wslay\.node|libwslay|\.\.\/native\/[a-z_]+\.(cc|h)/;
const ALLOCATOR_FRAMES = 1; // #0 is the malloc/new interceptor
const OWN_FRAMES = 4;

function leakBlocks(text) {
  return text.split(/\n(?=(?:Direct|Indirect) leak of )/).filter((b) => /^(Direct|Indirect) leak of /.test(b));
}

function allocatedByUs(block) {
  const frames = block.split('\n').filter((l) => /^\s+#\d+ /.test(l));
  return frames.slice(ALLOCATOR_FRAMES, ALLOCATOR_FRAMES + OWN_FRAMES).some((f) => OURS.test(f));
}

function findings() {
  const found = [];
  for (const name of fs.readdirSync(reports)) {
    const text = fs.readFileSync(path.join(reports, name), 'utf8');
    if (/ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer/.test(text) &&
        !/ERROR: LeakSanitizer/.test(text.split('\n').find((l) => l.includes('ERROR:')) ?? '')) {
      found.push({ file: name, kind: 'error', text });
      continue;
    }
    const ours = leakBlocks(text).filter(allocatedByUs);
    if (ours.length) found.push({ file: name, kind: 'leak', text: ours.join('\n') });
  }
  return found;
}

const addon = buildSanitized();
const libasan = runtimeLibrary('libasan.so');

// Leaks at exit that are Node's or the tooling's, never ours: a module registered the old way (napi_module_register:
// bufferutil, which ws loads) and vite's bundler. Without these, children that load ws exit 1 (LeakSanitizer's code).
const suppressions = path.join(scratch, 'lsan.supp');
fs.writeFileSync(suppressions, ['leak:napi_module_register', 'leak:rolldown-binding'].join('\n') + '\n');

// Node's deliberate SEGV handler for WebAssembly bounds checks must not be taken for a crash (handle_segv=0), and
// ODR checks trip on V8's globals.
const asanOptions = [
  `log_path=${path.join(reports, 'asan')}`,
  'detect_leaks=1',
  'handle_segv=0',
  'detect_odr_violation=0',
  'allow_user_segv_handler=1',
  'detect_stack_use_after_return=0',
  'abort_on_error=0',
  'halt_on_error=1',
].join(':');
const ubsanOptions = `halt_on_error=1:print_stacktrace=1:log_path=${path.join(reports, 'ubsan')}`;

// vitest stops its workers with SIGTERM, whose default action skips LeakSanitizer's exit-time check: let workers
// exit normally instead. Processes that the tests start (children that end on an uncaught error on purpose, python
// peers) inherit the workers' environment with leak detection off: a process that dies with V8's heap in place
// "leaks" all of it, slowly, and LeakSanitizer's exit code would change what those tests check.
const preload = path.join(scratch, 'vitest-worker.cjs');
const workerPattern = String.raw`/vitest[\/]dist[\/]workers[\/]forks\.js$/`;
fs.writeFileSync(
  preload,
  [
    `if (${workerPattern}.test(process.argv[1] || '')) {`,
    "  process.on('SIGTERM', () => process.exit(0));",
    "  process.env.ASAN_OPTIONS = (process.env.ASAN_OPTIONS || '').replace('detect_leaks=1', 'detect_leaks=0');",
    '}',
    '',
  ].join('\n'),
);
const results = path.join(scratch, 'vitest.json');

// Tests that drive chromium are left out: chromium started with libasan preloaded does not start at all, and they
// exercise no native code the other tests do not. By file (browser*.test.ts) and by name (any test naming chromium).
const exclude = ['--exclude', 'test/**/browser*.test.ts', '--exclude', 'node_modules/**'];
if (!vitestArgs.some((a) => a === '-t' || a.startsWith('--testNamePattern'))) exclude.push('-t', '^(?!.*chromium)');
console.log(`test:asan: running vitest with LD_PRELOAD=${libasan}`);
const started = Date.now();
const run = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...exclude,
  '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...vitestArgs], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    WSLAY_ADDON_PATH: addon,
    LD_PRELOAD: libasan,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${preload}`.trim(),
    ASAN_OPTIONS: asanOptions,
    UBSAN_OPTIONS: ubsanOptions,
    LSAN_OPTIONS: `suppressions=${suppressions}:print_suppressions=0`,
    // Slower under ASAN: tests whose timing depends on the machine get more room where they read it.
    WSLAY_SANITIZED: '1',
  },
});
const seconds = ((Date.now() - started) / 1000).toFixed(0);

// The verdict on the tests comes from the JSON report: vitest's own exit code is LeakSanitizer's (1) whenever the
// vitest process itself leaks at exit (its bundler's native module does).
let testsOk = false;
let summary = 'no test report';
try {
  const report = JSON.parse(fs.readFileSync(results, 'utf8'));
  testsOk = report.success === true && report.numFailedTests === 0 && report.numTotalTests > 0;
  summary = `${report.numPassedTests} passed, ${report.numFailedTests} failed (${report.numTotalTestSuites} suites)`;
} catch {
  // no report: vitest itself crashed
}

const bad = findings();
for (const f of bad) {
  console.error(`\n==== sanitizer ${f.kind} (${f.file}) ====\n${f.text.slice(0, 8000)}`);
}
const files = fs.readdirSync(reports).length;
console.log(
  `test:asan: ${summary}; vitest exited ${run.status ?? run.signal} after ${seconds} s; ` +
    `${files} sanitizer log file(s), ${bad.length} involving our code`,
);
if (bad.length && !process.env.ASAN_KEEP) {
  // Keep the raw reports of a failing run: they are the evidence.
  const kept = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-asan-reports-'));
  fs.cpSync(reports, kept, { recursive: true });
  console.error(`test:asan: raw reports copied to ${kept}`);
}
cleanup();
process.exit(bad.length > 0 || !testsOk ? 1 : 0);
