#!/usr/bin/env node
// `npm run prebuild`: the platform package for this machine (npm/<platform>/, e.g. @wslay/linux-x64-gnu), packed
// into build/prebuild/. It builds the addon (scripts/build-native.mjs), copies it stripped into the template with
// the libwslay.so.1 it links and wslay's licence (from the system package: nothing of wslay is committed), checks
// with ldd that it needs nothing beyond glibc, the C++ runtime and that bundled libwslay, reports the newest glibc
// symbol version it uses (objdump -T), and runs npm pack.
//   node scripts/prebuild.mjs
//   WSLAY_LICENSE=/path/to/COPYING  where wslay's licence is, when no Debian package ships it
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { differences, root } from './platform-packages.mjs';

const fail = (msg) => {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
};
const sh = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: root, encoding: 'utf8', ...opts });

if (process.platform !== 'linux') {
  fail(`not done for ${process.platform} yet, only for Linux (ldd, an $ORIGIN rpath); its template in npm/ is private`);
}
// Same naming as the loader (src/native.ts).
const loaderArch = { x64: 'x86_64', arm64: 'aarch64' }[process.arch] ?? process.arch;
const libc = fs.existsSync(`/lib/ld-musl-${loaderArch}.so.1`) ? 'musl' : 'gnu';
const platform = `linux-${process.arch}-${libc}`;
const dir = path.join(root, 'npm', platform);
if (!fs.existsSync(path.join(dir, 'package.json'))) fail(`no template npm/${platform}/package.json`);
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
const outOfStep = differences();
if (outOfStep.length) fail(`${outOfStep.join('; ')} (node scripts/platform-packages.mjs --sync)`);

// 1. Build (incremental; plain flavour, as shipped).
const built = path.join(root, 'build', 'Release', 'wslay.node');
const env = { ...process.env };
delete env.WSLAY_SANITIZE;
const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], { cwd: root, env, encoding: 'utf8' });
if (build.status !== 0) fail(`the build failed:\n${build.stdout}${build.stderr}`);

/** ldd's answer as [{ name, path, line }]; path is null for "not found" and the vdso. */
function ldd(file) {
  return sh('ldd', [file])
    .trim()
    .split('\n')
    .map((line) => {
      const [, name, target] = /^\s*(\S+)(?:\s+=>\s+(\S+))?/.exec(line);
      const resolved = target === undefined ? (name.startsWith('/') ? name : null) : target === 'not' ? null : target;
      return { name: path.basename(name), path: resolved, line: line.trim() };
    });
}

// 2. The files of the package.
const systemWslay = ldd(built).find((d) => d.name === 'libwslay.so.1')?.path;
if (!systemWslay) fail(`${built} does not link libwslay.so.1 from the system`);
const wslayFile = fs.realpathSync(systemWslay);
let licence = process.env.WSLAY_LICENSE;
if (!licence) {
  try {
    const owner = sh('dpkg', ['-S', wslayFile]).split(':')[0];
    licence = `/usr/share/doc/${owner}/copyright`;
  } catch {
    fail(`no Debian package owns ${wslayFile}: say where wslay's licence is with WSLAY_LICENSE=…`);
  }
}
if (!fs.existsSync(licence)) fail(`wslay's licence ${licence} is missing`);

const addon = path.join(dir, 'wslay.node');
const bundled = path.join(dir, 'libwslay.so.1');
fs.copyFileSync(built, addon);
fs.copyFileSync(wslayFile, bundled);
fs.copyFileSync(licence, path.join(dir, 'LICENSE-wslay'));
fs.copyFileSync(path.join(root, 'LICENSE'), path.join(dir, 'LICENSE'));
for (const f of [addon, bundled]) sh('strip', ['--strip-unneeded', f]);

// 3. What the addon needs: the C library, the C++ runtime (libstdc++, with libm and libgcc_s under it), and the
// libwslay beside it, found through its $ORIGIN rpath.
const RUNTIME = /^(linux-vdso\.so\.1|linux-gate\.so\.1|ld-linux[-\w.]*\.so\.\d|ld-musl-\w+\.so\.1|libc\.so\.6|libc\.musl-\w+\.so\.1|libm\.so\.6|libgcc_s\.so\.1|libstdc\+\+\.so\.6)$/;
const runpath = sh('readelf', ['-d', addon]).match(/\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]/)?.[1];
if (runpath !== '$ORIGIN') fail(`wslay.node's rpath is ${runpath ?? 'missing'}, not $ORIGIN (binding.gyp ldflags)`);
for (const dep of ldd(addon)) {
  if (dep.name === 'libwslay.so.1') {
    if (dep.path !== bundled) fail(`libwslay.so.1 resolves to ${dep.path}, not the bundled ${bundled}`);
  } else if (!RUNTIME.test(dep.name) || dep.line.includes('not found')) {
    fail(`wslay.node needs ${dep.line}, which is neither the C/C++ runtime nor in the package`);
  }
}
const extra = ldd(bundled).filter((d) => !RUNTIME.test(d.name) || d.line.includes('not found'));
if (extra.length) fail(`libwslay.so.1 needs ${extra.map((d) => d.line).join(', ')}`);

// 4. The newest symbol versions it asks of glibc and libstdc++.
function newest(prefix, files) {
  const versions = files.flatMap((f) => [...sh('objdump', ['-T', f]).matchAll(new RegExp(`\\b${prefix}_([0-9.]+)\\b`, 'g'))].map((m) => m[1]));
  const cmp = (a, b) => {
    const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return 0;
  };
  return versions.sort(cmp).at(-1) ?? 'none';
}
const glibc = newest('GLIBC', [addon, bundled]);
const glibcxx = newest('GLIBCXX', [addon]);

// 5. Pack.
const dest = path.join(root, 'build', 'prebuild');
fs.mkdirSync(dest, { recursive: true });
const [packed] = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', dest], { cwd: dir }));
const files = packed.files.map((f) => f.path).sort();
const expected = ['LICENSE', 'LICENSE-wslay', 'README.md', 'libwslay.so.1', 'package.json', 'wslay.node'];
if (JSON.stringify(files) !== JSON.stringify(expected)) fail(`the package holds ${files.join(', ')}, not ${expected.join(', ')}`);

const kb = (f) => `${(fs.statSync(f).size / 1024).toFixed(0)} KiB`;
console.log(`prebuild: ${manifest.name}@${manifest.version}: wslay.node ${kb(addon)}, libwslay.so.1 ${kb(bundled)} (from ${wslayFile})`);
console.log(`prebuild: needs glibc >= ${glibc} (newest GLIBC_ symbol version, objdump -T), libstdc++ GLIBCXX_${glibcxx}; ldd: nothing else`);
console.log(`prebuild: ${path.join(dest, packed.filename)} (${(packed.size / 1024).toFixed(0)} KiB)`);
