// The package as a TypeScript user sees it: every ```ts block of README.md and every file of examples/ type-checks
// under `strict` with `moduleResolution: nodenext`, importing 'wslay' from node_modules (the built types in dist/,
// through package.json's exports) in a project whose tsconfig lists no `types` (TypeScript 7's default), so Node's
// types come only from the package's own `/// <reference types="node" />`. Negative cases check that wrong calls
// (queueMsg('x', 42), a CLOSE opcode, unknown options) no longer compile. ioredis and redis (wslay/redis's optional
// peers) are installed beside it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { repoRoot } from './helpers/child.js';

const TSC = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

/** The ```ts blocks of a markdown text, with the line each starts on. */
function tsBlocks(markdown: string): Array<{ line: number; code: string }> {
  const blocks: Array<{ line: number; code: string }> = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

// Wrong uses, each marked: an unused @ts-expect-error is itself an error (TS2578), so each must fail to compile.
const NEGATIVE = `
import * as http from 'node:http';
import { connect, handleUpgrade, Opcode, RSV2, WebSocketServer, type WebSocketConnection } from 'wslay';

declare const conn: WebSocketConnection;
// @ts-expect-error 42 is no opcode
conn.queueMsg('x', 42);
// @ts-expect-error close goes through close()
conn.queueMsg('x', Opcode.CLOSE);
// @ts-expect-error continuation frames are the library's
conn.queueMsgEx('x', Opcode.CONTINUATION);
// @ts-expect-error 8 is no RSV bit
conn.queueMsgEx('x', Opcode.TEXT, 8);
// @ts-expect-error a fragmented message is TEXT or BINARY
conn.queueFragmented(() => null, Opcode.PING);
conn.queueMsgEx('x', Opcode.BINARY, RSV2);

// @ts-expect-error an unknown option
void connect('ws://127.0.0.1/', { perMessageDeflat: true });

const server = http.createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (c, req) => {
  const typed: WebSocketConnection = c;
  const url: string | undefined = req.url;
  // @ts-expect-error the connection is typed, not any
  c.nonexistent();
  void typed;
  void url;
});
// @ts-expect-error no such event
wss.on('conection', () => {});
server.on('upgrade', (req, socket, head) => {
  // @ts-expect-error an unknown option
  handleUpgrade(req, socket, head, { maxRecvSzie: 1 });
  conn.onMsgRecv = (rsv, opcode) => {
    // @ts-expect-error onMsgRecv never sees CLOSE
    if (opcode === Opcode.CLOSE) return;
    void rsv;
  };
});
`;

// The ESM entry's default export is declared, and it is the same module as the named exports.
const DEFAULT_ESM = `
import wslay, { connect, Opcode } from 'wslay';
const same: typeof connect = wslay.connect;
const text: 1 = wslay.Opcode.TEXT;
void same;
void text;
void Opcode;
`;
const REQUIRE_CJS = `
import wslay = require('wslay');
const text: 1 = wslay.Opcode.TEXT;
void text;
`;

let project: string;
let diagnostics: string[] = [];
const README_PREFIX = 'README.md-line-';

/** Every file the user project holds: README blocks (ESM), examples/ (CommonJS, as they are built), the cases. */
function userFiles(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const b of tsBlocks(fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8'))) {
    files[`${README_PREFIX}${b.line}.mts`] = b.code;
  }
  const examples = path.join(repoRoot, 'examples');
  for (const f of fs.readdirSync(examples).filter((n) => n.endsWith('.ts'))) {
    files[f] = fs.readFileSync(path.join(examples, f), 'utf8');
  }
  files['negative.mts'] = NEGATIVE;
  files['default.mts'] = DEFAULT_ESM;
  files['required.cts'] = REQUIRE_CJS;
  return files;
}

// One tsc run for all cases (it takes seconds on a busy machine); each test reads the diagnostics of its files.
beforeAll(() => {
  expect(fs.existsSync(path.join(repoRoot, 'dist', 'index.d.mts')), 'dist/ is built (npm test builds it)').toBe(true);
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-ts-user-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(repoRoot, path.join(project, 'node_modules', 'wslay'), 'dir');
  // The optional peers a user of wslay/redis installs next to it (examples/chat.ts and the README use them).
  for (const peer of ['ioredis', 'redis']) {
    fs.symlinkSync(path.join(repoRoot, 'node_modules', peer), path.join(project, 'node_modules', peer), 'dir');
  }
  fs.writeFileSync(path.join(project, 'package.json'), '{ "private": true }\n');
  for (const [name, source] of Object.entries(userFiles())) fs.writeFileSync(path.join(project, name), source);
  const tsconfig = {
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      // TypeScript 7's default: Node's types must come from the package's own reference.
      types: [],
      noEmit: true,
    },
    include: ['*.ts', '*.mts', '*.cts'],
  };
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
  const r = spawnSync(process.execPath, [TSC, '-p', '.', '--pretty', 'false'], { cwd: project, encoding: 'utf8' });
  diagnostics = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '');
}, 120_000);

afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true });
});

function errorsIn(match: (file: string) => boolean): string[] {
  return diagnostics.filter((line) => match(line.split('(')[0]!));
}

describe('TypeScript users', () => {
  it('every ```ts block of README.md compiles (strict, nodenext, no types listed)', () => {
    expect(Object.keys(userFiles()).filter((f) => f.startsWith(README_PREFIX)).length).toBeGreaterThanOrEqual(4);
    expect(errorsIn((f) => f.startsWith(README_PREFIX))).toEqual([]);
  });

  it('every file of examples/ compiles against the published types', () => {
    expect(errorsIn((f) => f.endsWith('.ts') && !f.startsWith(README_PREFIX))).toEqual([]);
  });

  it('wrong opcodes, RSV bits, options and event names do not compile', () => {
    expect(errorsIn((f) => f === 'negative.mts')).toEqual([]);
  });

  it('the ESM default export and the CommonJS module are declared as they are built', async () => {
    expect(errorsIn((f) => f === 'default.mts' || f === 'required.cts')).toEqual([]);
    const esm = (await import(path.join(repoRoot, 'dist', 'index.mjs'))) as Record<string, unknown> & {
      default: Record<string, unknown>;
    };
    const named = Object.keys(esm).filter((k) => k !== 'default').sort();
    expect(Object.keys(esm.default).sort()).toEqual(named);
    for (const k of named) expect(esm.default[k], k).toBe(esm[k]);
  });

  it('nothing else is reported (e.g. in the declarations themselves)', () => {
    expect(diagnostics).toEqual([]);
  });

  it('every declaration file references Node types itself', () => {
    const dist = path.join(repoRoot, 'dist');
    const decls = fs.readdirSync(dist).filter((f) => f.endsWith('.d.ts') || f.endsWith('.d.mts'));
    expect(decls.length).toBeGreaterThan(5);
    for (const f of decls) {
      expect(fs.readFileSync(path.join(dist, f), 'utf8').startsWith('/// <reference types="node" />'), f).toBe(true);
    }
  });

  it('Opcode and the RSV bits are plain data properties of the module, not getters', async () => {
    const cjs = (await import(path.join(repoRoot, 'dist', 'index.js'))) as { default: object };
    for (const name of ['Opcode', 'RSV1', 'RSV2', 'RSV3', 'FragmentedStatus']) {
      const d = Object.getOwnPropertyDescriptor(cjs.default, name);
      expect(d && 'value' in d, name).toBe(true);
    }
    const opcode = (cjs.default as { Opcode: object }).Opcode;
    expect(Object.getOwnPropertyDescriptor(opcode, 'TEXT')).toMatchObject({ value: 1 });
  });
});
