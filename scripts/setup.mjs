#!/usr/bin/env node
// What `npm start` and `npm test` run first; idempotent and quick when everything is in place:
//   1. the system wslay library (apt-get or brew when it can, else one line saying what to install),
//   2. node_modules matching package-lock.json (npm ci),
//   3. the native addon (node-gyp) when a native source is newer than it,
//   4. the TypeScript build (dist/) when a source is newer than it.
// Uses only Node's standard library: it runs before node_modules exists.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const quiet = process.argv.includes('--quiet');
const say = (msg) => quiet || console.log(`setup: ${msg}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', ...opts });
  if (r.status !== 0) {
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
      spawnSync('apt-get', ['install', '-y', '-q', 'libwslay-dev'], { stdio: quiet ? 'ignore' : 'inherit' }).status === 0;
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
