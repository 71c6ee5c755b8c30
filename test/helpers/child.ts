// Runs JavaScript in a child process or worker thread against the library. Children cannot load TypeScript, so
// src/ is transpiled to CommonJS with the TypeScript compiler into a temp dir named after a hash of the sources
// (shared by test processes, so the compiler loads once per change of src/); the addon is the one in build/
// (WSLAY_ADDON_PATH), the same one the tests in this process use.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';

import { within } from './wait.js';

export const repoRoot = path.resolve(__dirname, '..', '..');
/** The addon this process loads too (WSLAY_ADDON_PATH selects another build, as src/native.ts allows). */
export const addonPath = process.env.WSLAY_ADDON_PATH || path.join(repoRoot, 'build', 'Release', 'wslay.node');
/** For `require(wsPath)` in a child script. */
export const wsPath = path.join(repoRoot, 'node_modules', 'ws');

const LIB_PREFIX = 'wslay-test-lib-';
let scriptDir: string | undefined;

// Registered when a test file imports this module: its scripts go when the file is done.
afterAll(() => {
  if (scriptDir) fs.rmSync(scriptDir, { recursive: true, force: true });
  scriptDir = undefined;
});

export async function transpiledLib(): Promise<string> {
  const srcDir = path.join(repoRoot, 'src');
  const files = fs.readdirSync(srcDir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort();
  const hash = createHash('sha1');
  const sources = files.map((f) => fs.readFileSync(path.join(srcDir, f), 'utf8'));
  files.forEach((f, i) => hash.update(f).update('\0').update(sources[i]).update('\0'));
  const dir = path.join(os.tmpdir(), LIB_PREFIX + hash.digest('hex').slice(0, 16));
  if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
  const { default: ts } = await import('typescript');
  const staging = fs.mkdtempSync(dir + '-');
  files.forEach((f, i) => {
    const out = ts.transpileModule(sources[i], {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      fileName: f,
    });
    fs.writeFileSync(path.join(staging, f.replace(/\.ts$/, '.js')), out.outputText);
  });
  // native.ts looks for a package root; the addon itself comes from WSLAY_ADDON_PATH. Written last: it marks
  // the directory complete.
  fs.writeFileSync(path.join(staging, 'package.json'), '{"private":true}\n');
  try {
    fs.renameSync(staging, dir); // atomic; another test process may have won the race
  } catch {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  pruneOldLibs(dir);
  return dir;
}

/** Removes transpiled copies of older sources (untouched for an hour), so temp dirs do not pile up. */
function pruneOldLibs(keep: string): void {
  const hourAgo = Date.now() - 3600_000;
  for (const name of fs.readdirSync(os.tmpdir())) {
    const full = path.join(os.tmpdir(), name);
    if (!/^wslay-test-lib-[0-9a-f]{16}$/.test(name) || full === keep) continue;
    try {
      if (fs.statSync(full).mtimeMs < hourAgo) fs.rmSync(full, { recursive: true, force: true });
    } catch {
      // another process pruned it first
    }
  }
}

/**
 * Writes `source` as a script in a temp dir of this test process, next to an `index.js` that re-exports the
 * transpiled library: scripts `require('./index.js')`.
 */
export async function writeScript(name: string, source: string): Promise<string> {
  if (!scriptDir) {
    const lib = await transpiledLib();
    scriptDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-test-scripts-'));
    fs.writeFileSync(path.join(scriptDir, 'index.js'), `module.exports = require(${JSON.stringify(lib)});\n`);
  }
  const file = path.join(scriptDir, name);
  fs.writeFileSync(file, source);
  return file;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node [nodeArgs] script [args]`, killing it after `timeout` ms; `maxFds` lowers its RLIMIT_NOFILE. */
export function runNode(
  script: string,
  {
    nodeArgs = [],
    args = [],
    timeout = 20_000,
    stdio,
    maxFds,
  }: { nodeArgs?: string[]; args?: string[]; timeout?: number; stdio?: Array<'pipe' | 'ignore'>; maxFds?: number } = {},
): { child: ReturnType<typeof spawn>; result: Promise<ChildResult> } {
  const argv = [...nodeArgs, script, ...args];
  const [command, commandArgs] =
    maxFds === undefined
      ? [process.execPath, argv]
      : ['/bin/sh', ['-c', `ulimit -n ${maxFds} && exec "$0" "$@"`, process.execPath, ...argv]];
  const child = spawn(command, commandArgs, {
    env: { ...process.env, WSLAY_ADDON_PATH: addonPath },
    stdio: stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const done = new Promise<ChildResult>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  const result = within(done, timeout, `child ${path.basename(script)}`).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  return { child, result };
}

/** The last line of stdout parsed as JSON (children print their findings there). */
export function lastJson<T>(result: ChildResult): T {
  const lines = result.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]) as T;
  } catch {
    throw new Error(`child printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}
