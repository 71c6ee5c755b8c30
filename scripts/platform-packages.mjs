#!/usr/bin/env node
// The prebuilt platform packages (npm/<platform>/package.json) and the main package's optionalDependencies, kept
// in step with the one version that counts: the main package.json's. A template marked "private" has no prebuild
// yet and is not listed.
//   node scripts/platform-packages.mjs --check   exit 1 with what differs
//   node scripts/platform-packages.mjs --sync    rewrite the templates' versions, the optionalDependencies and
//                                                their package-lock.json entries (the "version" script:
//                                                `npm version x.y.z` runs it)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readJson = (file) => JSON.parse(readFileSync(file, 'utf8'));
const writeJson = (file, value) => writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** Every template: { dir, manifest } with dir = npm/<platform>. */
export function templates() {
  return readdirSync(join(root, 'npm'), { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ({ dir: join(root, 'npm', e.name), manifest: readJson(join(root, 'npm', e.name, 'package.json')) }));
}

/** What the main package.json should list, from the templates. */
function expectedOptionalDependencies(version) {
  const listed = templates().filter((t) => !t.manifest.private);
  return Object.fromEntries(listed.map((t) => [t.manifest.name, version]).sort(([a], [b]) => a.localeCompare(b)));
}

// package-lock.json needs an entry for each optional platform package, or `npm ci` refuses the lockfile ("Missing
// from lock file") while the package is not on the registry yet; npm skips one that fails to download, as it
// skips those for other platforms. Once published, `npm install` adds its integrity.
function expectedLockEntries(version) {
  const listed = templates().filter((t) => !t.manifest.private);
  return Object.fromEntries(
    listed.map(({ manifest: m }) => [
      `node_modules/${m.name}`,
      { version, cpu: m.cpu, ...(m.libc && { libc: m.libc }), license: m.license, optional: true, os: m.os },
    ]),
  );
}

/** The differences, as lines; empty when everything matches. */
export function differences() {
  const main = readJson(join(root, 'package.json'));
  const out = [];
  for (const t of templates()) {
    if (t.manifest.version !== main.version) out.push(`${t.manifest.name} is ${t.manifest.version}, wslay is ${main.version}`);
  }
  const want = JSON.stringify(expectedOptionalDependencies(main.version));
  const have = JSON.stringify(main.optionalDependencies ?? {});
  if (want !== have) out.push(`package.json optionalDependencies are ${have}, should be ${want}`);
  const lock = readJson(join(root, 'package-lock.json')).packages;
  for (const [key, entry] of Object.entries(expectedLockEntries(main.version))) {
    if (lock[key]?.version !== entry.version) out.push(`package-lock.json has ${key} at ${lock[key]?.version}, should be ${entry.version}`);
  }
  return out;
}

function sync() {
  const file = join(root, 'package.json');
  const main = readJson(file);
  for (const t of templates()) {
    if (t.manifest.version !== main.version) writeJson(join(t.dir, 'package.json'), { ...t.manifest, version: main.version });
  }
  main.optionalDependencies = expectedOptionalDependencies(main.version);
  writeJson(file, main);
  const lockFile = join(root, 'package-lock.json');
  const lock = readJson(lockFile);
  lock.packages[''].optionalDependencies = main.optionalDependencies;
  const entries = expectedLockEntries(main.version);
  for (const [key, entry] of Object.entries(lock.packages)) {
    // An entry npm wrote for the same version (with its integrity) stays.
    if (key.startsWith('node_modules/@wslay/') && entries[key]?.version === entry.version) entries[key] = entry;
    if (key.startsWith('node_modules/@wslay/')) delete lock.packages[key];
  }
  Object.assign(lock.packages, entries);
  lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)));
  writeJson(lockFile, lock);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--sync')) sync();
  const diff = differences();
  if (diff.length) {
    console.error(`platform packages out of step (node scripts/platform-packages.mjs --sync):\n  ${diff.join('\n  ')}`);
    process.exit(1);
  }
}
