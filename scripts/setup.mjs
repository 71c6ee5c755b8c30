#!/usr/bin/env node
// What `npm start` and `npm test` run first; idempotent and quick when everything is in place:
//   1. the system wslay library (apt-get or brew when it can, else one line saying what to install),
//   2. node_modules matching package-lock.json (npm ci), without the prebuilt platform package,
//   3. the native addon (node-gyp) when a native source is newer than it,
//   4. the TypeScript build (dist/) when a source is newer than it.
// Uses only Node's standard library: it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
// --quiet (npm start, npm test): one line per step that has work to do; a step's own output only if it fails.
const quiet = process.argv.includes('--quiet');
const say = (msg) => console.log(`setup: ${msg}`);

// Under `npm publish --dry-run` (prepack), npm ci would inherit the dry run and install nothing.
delete process.env.npm_config_dry_run;

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', encoding: 'utf8' });
  if (r.status !== 0) {
    if (quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    console.error(`setup: \`${cmd} ${args.join(' ')}\` failed`);
    process.exit(r.status ?? 1);
  }
}

function has(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function newestMtime(paths) {
  let newest = 0;
  for (const p of paths) {
    const full = join(root, p);
    if (!existsSync(full)) continue;
    const st = statSync(full);
    if (st.isDirectory()) {
      newest = Math.max(newest, newestMtime(readdirSync(full).map((f) => join(p, f))));
    } else {
      newest = Math.max(newest, st.mtimeMs);
    }
  }
  return newest;
}

const mtime = (p) => (existsSync(join(root, p)) ? statSync(join(root, p)).mtimeMs : 0);

// 1. wslay
const { find, INSTALL_HINT } = require('../deps/find-wslay.js');
if (!find()) {
  if (process.platform === 'linux' && has('apt-get') && process.getuid?.() === 0) {
    say('installing libwslay-dev with apt-get');
    const install = () =>
      spawnSync('apt-get', ['install', '-y', '-q', 'libwslay-dev'], { stdio: quiet ? 'pipe' : 'inherit' }).status === 0;
    if (!install()) {
      run('apt-get', ['update', '-q']);
      if (!install()) run('apt-get', ['install', '-y', '-q', 'libwslay-dev']);
    }
  } else if (process.platform === 'darwin' && has('brew')) {
    say('installing wslay with Homebrew');
    run('brew', ['install', 'wslay']);
  }
  if (!find()) {
    console.error(INSTALL_HINT);
    process.exit(1);
  }
}

// 2. node_modules
if (mtime('node_modules/.package-lock.json') < mtime('package-lock.json')) {
  say('npm ci');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// The repo loads its own build: a published prebuilt package that npm ci installed as the optional dependency
// would be found first (src/native.ts) and hide every change to native/.
for (const pkg of Object.keys(require('../package.json').optionalDependencies ?? {})) {
  if (existsSync(join(root, 'node_modules', pkg))) {
    say(`removing node_modules/${pkg} (the repo uses its own build)`);
    rmSync(join(root, 'node_modules', pkg), { recursive: true, force: true });
  }
}

// 3. the addon
const addon = 'build/Release/wslay.node';
if (mtime(addon) < newestMtime(['native', 'binding.gyp', 'deps/find-wslay.js'])) {
  say('building the native addon');
  run(process.execPath, [join(root, 'scripts', 'build-native.mjs')]);
}

// 4. TypeScript
if (mtime('dist/index.js') < newestMtime(['src', 'examples', 'tsconfig.json', 'tsconfig.examples.json', 'scripts/esm-entry.mjs'])) {
  say('compiling TypeScript');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
  run(process.execPath, [tsc, '-p', 'tsconfig.examples.json']);
  run(process.execPath, [join(root, 'scripts', 'esm-entry.mjs')]);
}
