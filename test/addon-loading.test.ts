// Where require('wslay') finds its addon (src/native.ts), in an installed layout built in a temp dir: the library
// as node_modules/wslay, the prebuilt platform package as node_modules/@wslay/<platform> (this build's wslay.node
// with the system's libwslay.so.1 beside it, as `npm run prebuild` packs them), and a local build in
// node_modules/wslay/build/Release. Each case loads it in a child process and reports which files got mapped.
// The whole user install (packed tarballs, no compiler, no system wslay) is scripts/test-install.sh, in CI.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addonPath, repoRoot, transpiledLib } from './helpers/child.js';

const platformPackage = `@wslay/linux-${process.arch}-gnu`;
const version: string = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version;

let app: string;
let prebuiltDir: string;
let localDir: string;
let systemLibwslay: string;

function load(env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const script = `require('wslay');
const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
const mapped = (name) => [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((p) => p && p.endsWith(name)))];
console.log(JSON.stringify({ addon: mapped('/wslay.node'), libwslay: mapped('/libwslay.so.1').concat(mapped('/libwslay.so.1.1.0')) }));`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!env.WSLAY_ADDON_PATH) delete childEnv.WSLAY_ADDON_PATH;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: app, env: childEnv, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function loaded(env?: Record<string, string>): { addon: string[]; libwslay: string[] } {
  const r = load(env);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout);
}

function install(dir: string, files: Record<string, string | null>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, from] of Object.entries(files)) {
    if (from === null) fs.writeFileSync(path.join(dir, name), '');
    else fs.copyFileSync(from, path.join(dir, name));
  }
}

describe.runIf(process.platform === 'linux')('loading the addon', () => {
  beforeAll(async () => {
    app = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-loading-'));
    const lib = await transpiledLib();
    const pkg = path.join(app, 'node_modules', 'wslay');
    fs.cpSync(lib, path.join(pkg, 'dist'), { recursive: true });
    fs.rmSync(path.join(pkg, 'dist', 'package.json'));
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'wslay', version, main: 'dist/index.js' }));
    prebuiltDir = path.join(app, 'node_modules', platformPackage);
    localDir = path.join(pkg, 'build', 'Release');
    const found = createRequire(import.meta.url)(path.join(repoRoot, 'deps', 'find-wslay.js')).find();
    systemLibwslay = fs.realpathSync(path.join(found.lib, 'libwslay.so.1'));
  });
  afterAll(() => fs.rmSync(app, { recursive: true, force: true }));

  const reset = () => {
    fs.rmSync(path.join(app, 'node_modules', '@wslay'), { recursive: true, force: true });
    fs.rmSync(localDir, { recursive: true, force: true });
  };
  const installPrebuilt = (libwslay: string | null) => {
    install(prebuiltDir, { 'wslay.node': addonPath, 'libwslay.so.1': libwslay });
    fs.writeFileSync(path.join(prebuiltDir, 'package.json'), JSON.stringify({ name: platformPackage, version }));
  };

  it('with neither a platform package nor a local build: one error saying how to build from source', () => {
    reset();
    const r = load();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`Error: wslay: no native addon for linux-${process.arch}: the prebuilt package ${platformPackage}`);
    expect(r.stderr).toMatch(/apt-get install libwslay-dev.*then run `npx wslay-build` \(or `npm run build:native`/);
    expect(r.stderr).toContain("code: 'ERR_WSLAY_NO_ADDON'");
    expect(r.stderr).not.toMatch(/^\s+at .*node_modules[/]wslay[/]/m); // no stack frames of ours
  });

  it('takes the platform package, with the libwslay.so.1 beside it (rpath $ORIGIN)', () => {
    reset();
    installPrebuilt(systemLibwslay);
    expect(loaded()).toEqual({
      addon: [path.join(prebuiltDir, 'wslay.node')],
      libwslay: [path.join(prebuiltDir, 'libwslay.so.1')],
    });
  });

  it('prefers the platform package to a local build, and WSLAY_ADDON_PATH to both', () => {
    reset();
    installPrebuilt(systemLibwslay);
    install(localDir, { 'wslay.node': addonPath });
    expect(loaded().addon).toEqual([path.join(prebuiltDir, 'wslay.node')]);
    install(path.join(app, 'chosen'), { 'wslay.node': addonPath });
    const chosen = path.join(app, 'chosen', 'wslay.node');
    expect(loaded({ WSLAY_ADDON_PATH: chosen }).addon).toEqual([chosen]);
  });

  it('a broken libwslay.so.1 in the platform package: says which package to install', () => {
    reset();
    installPrebuilt(null); // an empty file where the library should be
    const r = load();
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`${path.join(prebuiltDir, 'wslay.node')} cannot load the wslay library`);
    expect(r.stderr).toContain(`libwslay.so.1: file too short`);
    expect(r.stderr).toContain(`npm install ${platformPackage}@${version}`);
    expect(r.stderr).toContain("code: 'ERR_WSLAY_LIBRARY'");
  });

  it('a platform package that cannot load gives way to a local build', () => {
    reset();
    installPrebuilt(null);
    install(localDir, { 'wslay.node': addonPath });
    expect(loaded()).toEqual({ addon: [path.join(localDir, 'wslay.node')], libwslay: [systemLibwslay] });
  });
});
