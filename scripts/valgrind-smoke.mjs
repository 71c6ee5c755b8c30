#!/usr/bin/env node
// Valgrind memcheck smoke test: an echo server (handleUpgrade, with and without permessage-deflate) runs in a node
// process under `valgrind --leak-check=full`; a small ws client (outside valgrind) sends text, binary, fragmented,
// compressed and ping traffic, then closes. Node and V8 are noisy under memcheck (JIT code, their own allocators),
// so only errors with our addon or libwslay in their stack count, and leaks only when our code made the allocation.
//
//   node scripts/valgrind-smoke.mjs         (needs: apt-get install valgrind; the addon and dist/ built)
//   VALGRIND_KEEP=1 keeps the XML report and the server's output.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const TIMEOUT_MS = 240_000; // node under memcheck is ~30–50× slower

if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('valgrind-smoke: valgrind not found (Debian: apt-get install valgrind)');
  process.exit(1);
}
const lib = path.join(root, 'dist', 'index.js');
if (!fs.existsSync(lib)) {
  console.error('valgrind-smoke: dist/ is not built: run `npm run setup` first');
  process.exit(1);
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-valgrind-'));
const xml = path.join(scratch, 'memcheck.xml');
const serverScript = path.join(scratch, 'server.js');
// The server exits by itself once both sessions are over, so memcheck's leak check runs on a normal exit.
fs.writeFileSync(
  serverScript,
  `
const http = require('node:http');
const { handleUpgrade, Opcode } = require(${JSON.stringify(lib)});
let open = 0, done = 0;
const server = http.createServer((req, res) => res.writeHead(404).end());
server.on('upgrade', (req, socket, head) => {
  open++;
  handleUpgrade(req, socket, head, {
    perMessageDeflate: { threshold: 16 },
    onMsgRecv(rsv, opcode, msg) {
      if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode);
    },
    onClose(code) {
      console.log('closed ' + code);
      if (++done === 2) server.close();
    },
  });
});
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
`,
);

const valgrindArgs = [
  '--tool=memcheck',
  '--leak-check=full',
  '--show-leak-kinds=definite,possible',
  '--errors-for-leak-kinds=definite',
  '--error-limit=no',
  '--num-callers=40',
  '--smc-check=all-non-file', // V8 writes and rewrites machine code
  '--xml=yes',
  `--xml-file=${xml}`,
];
// --jitless: V8 interprets instead of generating machine code, which memcheck follows far more reliably.
const server = spawn('valgrind', [...valgrindArgs, process.execPath, '--jitless', serverScript], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let out = '';
let err = '';
server.stdout.on('data', (d) => (out += d));
server.stderr.on('data', (d) => (err += d));
const serverExit = new Promise((resolve) => server.on('exit', (code, signal) => resolve({ code, signal })));
const deadline = setTimeout(() => {
  console.error('valgrind-smoke: timed out; killing the server');
  server.kill('SIGKILL');
}, TIMEOUT_MS);
const cleanup = () => {
  clearTimeout(deadline);
  if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  if (process.env.VALGRIND_KEEP) console.log(`valgrind-smoke: kept ${scratch}`);
  else fs.rmSync(scratch, { recursive: true, force: true });
};

async function waitForPort() {
  for (;;) {
    const m = /listening (\d+)/.exec(out);
    if (m) return Number(m[1]);
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`server exited early:\n${err.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function session(port, deflate) {
  const WebSocket = require(path.join(root, 'node_modules', 'ws'));
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: deflate });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const sent = [
    'hello',
    'é'.repeat(500),
    Buffer.alloc(70_000, 7), // 64-bit length, several reads
    Buffer.from(Array.from({ length: 3000 }, (_, i) => i & 0xff)),
    'x'.repeat(200_000),
  ];
  const got = [];
  ws.on('message', (data, isBinary) => got.push(isBinary ? Buffer.from(data) : data.toString()));
  for (const m of sent) ws.send(m);
  ws.ping('are you there');
  // A fragmented message: three frames.
  ws.send('frag-1 ', { fin: false });
  ws.send('frag-2 ', { fin: false });
  ws.send('frag-3', { fin: true });
  const expected = sent.length + 1;
  const started = Date.now();
  while (got.length < expected && Date.now() - started < TIMEOUT_MS / 2) await new Promise((r) => setTimeout(r, 50));
  const ok =
    got.length === expected &&
    sent.every((m, i) => (Buffer.isBuffer(m) ? Buffer.compare(m, got[i]) === 0 : m === got[i])) &&
    got[sent.length] === 'frag-1 frag-2 frag-3';
  ws.close(1000, 'bye');
  await new Promise((resolve) => ws.once('close', resolve));
  return ok;
}

/** memcheck's XML errors, each with its kind, text and stack objects/functions. */
function parseErrors(text) {
  const errors = [];
  for (const block of text.match(/<error>[\s\S]*?<\/error>/g) ?? []) {
    const kind = /<kind>([^<]+)<\/kind>/.exec(block)?.[1] ?? '?';
    const what = /<what>([^<]+)<\/what>|<text>([^<]+)<\/text>/.exec(block);
    const frames = (block.match(/<frame>[\s\S]*?<\/frame>/g) ?? []).map((f) => ({
      obj: /<obj>([^<]+)<\/obj>/.exec(f)?.[1] ?? '',
      fn: /<fn>([^<]+)<\/fn>/.exec(f)?.[1] ?? '',
      file: /<file>([^<]+)<\/file>/.exec(f)?.[1] ?? '',
      line: /<line>([^<]+)<\/line>/.exec(f)?.[1] ?? '',
    }));
    errors.push({ kind, what: what?.[1] ?? what?.[2] ?? '', frames });
  }
  return errors;
}

const OURS = (f) => /wslay\.node|libwslay/.test(f.obj);
const ALLOCATOR = (f) => /vgpreload_memcheck|^operator new|^malloc$|^calloc$|^realloc$/.test(f.obj + ' ' + f.fn);

function involvesUs(e) {
  if (!e.kind.startsWith('Leak_')) return e.frames.some(OURS);
  // A leak is ours when our code made the allocation: among the first frames above the allocator.
  const above = e.frames.filter((f) => !ALLOCATOR(f)).slice(0, 4);
  return above.some(OURS);
}

let exitCode = 1;
try {
  const port = await waitForPort();
  const plain = await session(port, false);
  const compressed = await session(port, true);
  const { code, signal } = await serverExit;
  const errors = parseErrors(fs.readFileSync(xml, 'utf8'));
  const ours = errors.filter(involvesUs);
  const byKind = {};
  for (const e of errors) byKind[e.kind] = (byKind[e.kind] ?? 0) + 1;
  console.log(
    `valgrind-smoke: echo ${plain ? 'ok' : 'WRONG'} (plain), ${compressed ? 'ok' : 'WRONG'} (permessage-deflate); ` +
      `server exited ${code ?? signal}; memcheck errors: ${errors.length} in all ${JSON.stringify(byKind)}, ` +
      `${ours.length} involving wslay.node / libwslay`,
  );
  for (const e of ours) {
    console.error(`\n${e.kind}: ${e.what}`);
    for (const f of e.frames.slice(0, 12)) console.error(`    ${f.fn || '???'} (${f.file ? `${f.file}:${f.line}` : f.obj})`);
  }
  exitCode = plain && compressed && code === 0 && ours.length === 0 ? 0 : 1;
} catch (error) {
  console.error(`valgrind-smoke: ${error.message}`);
} finally {
  cleanup();
}
process.exit(exitCode);
