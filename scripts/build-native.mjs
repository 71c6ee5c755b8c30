#!/usr/bin/env node
// Builds the addon from source with node-gyp (binding.gyp) into build/Release: `npx wslay-build` (this file is the
// package's bin) or `npm run build:native` where no prebuilt platform package fits; scripts/setup.mjs in the repo.
// node-gyp comes from devDependencies when present, else the copy npm ships (npm sets npm_config_node_gyp).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

const { find, INSTALL_HINT } = require('../deps/find-wslay.js');
let found = null;
try {
  found = find();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
if (!found) {
  console.error(INSTALL_HINT);
  process.exit(1);
}

function nodeGyp() {
  const candidates = [
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  const hit = candidates.find((c) => c && existsSync(c));
  if (!hit) {
    console.error('wslay: node-gyp not found: install it (npm install -g node-gyp) to build the native addon');
    process.exit(1);
  }
  return hit;
}

// Build against the headers of the running Node when it ships them (no download): npm passes its nodedir setting
// only to scripts it runs itself.
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [`--nodedir=${process.env.npm_config_nodedir}`];
  const prefix = join(dirname(process.execPath), '..');
  return existsSync(join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

const gyp = nodeGyp();
const run = (args) => {
  const r = spawnSync(process.execPath, [gyp, ...args], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
// Configure again when binding.gyp changed since the last configure (sources or flags).
const configured = join(root, 'build', 'config.gypi');
const sanitize = process.env.WSLAY_SANITIZE ? 'sanitize' : 'plain';
const flavorFile = join(root, 'build', 'flavor.txt');
const flavor = existsSync(flavorFile) ? readFileSync(flavorFile, 'utf8') : '';
if (!existsSync(configured) || statSync(configured).mtimeMs < statSync(join(root, 'binding.gyp')).mtimeMs || flavor !== sanitize) {
  run(['configure', ...nodedirArgs()]);
}
run(['build', '-j', 'max']);
writeFileSync(flavorFile, sanitize);
