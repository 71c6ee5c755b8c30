#!/usr/bin/env node
// Finds the system wslay library for the build (wslay is never vendored). Order: a prefix the user names
// (WSLAY_PREFIX), pkg-config (libwslay), CMake's package config (wslay), then the standard prefixes.
//   node deps/find-wslay.js --include   the directory that holds wslay/wslay.h
//   node deps/find-wslay.js --libs      linker flags
//   node deps/find-wslay.js --check     prints where it was found, or one line saying what to install (exit 1)
// Debian 12's libwslay-dev 1.1.1 has no .pc file and its WSLAY_VERSION says "1.0.1-DEV", so neither is relied on.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const INSTALL_HINT =
  'wslay not found: install it (Debian/Ubuntu: apt-get install libwslay-dev; Homebrew: brew install wslay; ' +
  'Fedora: dnf install wslay-devel) or set WSLAY_PREFIX to its install prefix';

const LIB_DIRS = ['lib', 'lib64', 'lib/x86_64-linux-gnu', 'lib/aarch64-linux-gnu', 'lib/arm-linux-gnueabihf'];

function hasHeader(includeDir) {
  return fs.existsSync(path.join(includeDir, 'wslay', 'wslay.h'));
}

function libDirOf(prefix) {
  for (const dir of LIB_DIRS) {
    const full = path.join(prefix, dir);
    if (['libwslay.so', 'libwslay.dylib', 'libwslay.a'].some((f) => fs.existsSync(path.join(full, f)))) return full;
  }
  return null;
}

function fromPrefix(prefix, how) {
  const include = path.join(prefix, 'include');
  const lib = libDirOf(prefix);
  return hasHeader(include) && lib ? { include, lib, how } : null;
}

function fromPkgConfig() {
  try {
    const opts = { stdio: ['ignore', 'pipe', 'ignore'], encoding: 'utf8' };
    const cflags = execFileSync('pkg-config', ['--cflags-only-I', 'libwslay'], opts).trim();
    const libs = execFileSync('pkg-config', ['--libs-only-L', 'libwslay'], opts).trim();
    const include = (cflags.split(/\s+/).find((f) => f.startsWith('-I')) || '-I/usr/include').slice(2);
    const lib = (libs.split(/\s+/).find((f) => f.startsWith('-L')) || '').slice(2) || null;
    return hasHeader(include) ? { include, lib, how: 'pkg-config' } : null;
  } catch {
    return null;
  }
}

function fromCMakeConfig() {
  // <prefix>/lib[/<triplet>]/cmake/wslay/wslay-config.cmake → the prefix is above lib/.
  for (const prefix of ['/usr', '/usr/local', '/opt/homebrew', '/opt/local']) {
    for (const dir of LIB_DIRS) {
      if (fs.existsSync(path.join(prefix, dir, 'cmake', 'wslay', 'wslay-config.cmake'))) {
        const found = fromPrefix(prefix, 'CMake package config');
        if (found) return found;
      }
    }
  }
  return null;
}

function find() {
  const named = process.env.WSLAY_PREFIX;
  if (named) {
    const found = fromPrefix(named, 'WSLAY_PREFIX');
    if (!found) throw new Error(`WSLAY_PREFIX=${named} has no include/wslay/wslay.h and lib*/libwslay.*`);
    return found;
  }
  return (
    fromPkgConfig() ||
    fromCMakeConfig() ||
    ['/usr', '/usr/local', '/opt/homebrew', '/opt/local'].map((p) => fromPrefix(p, 'standard paths')).find(Boolean) ||
    null
  );
}

function main() {
  let found;
  try {
    found = find();
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  const mode = process.argv[2] || '--check';
  if (!found) {
    process.stderr.write(`${INSTALL_HINT}\n`);
    process.exit(1);
  }
  if (mode === '--include') {
    process.stdout.write(found.include);
  } else if (mode === '--libs') {
    const system = ['/usr/lib', '/usr/lib64', '/lib'].some((d) => found.lib && found.lib.startsWith(d));
    const flags = found.lib && !system ? [`-L${found.lib}`, `-Wl,-rpath,${found.lib}`, '-lwslay'] : ['-lwslay'];
    process.stdout.write(flags.join(' '));
  } else {
    process.stdout.write(`wslay: ${found.include}/wslay/wslay.h, ${found.lib || 'default linker path'} (${found.how})\n`);
  }
}

if (require.main === module) main();
module.exports = { find, INSTALL_HINT };
