// callgrind.mjs: `npm run bench -- --callgrind`. Instructions per echoed message, counted by valgrind's
// callgrind, which does not depend on what else runs on the machine. The server runs under callgrind with
// instrumentation off; the load client echoes a fixed number of messages twice on the same connections
// (warm-up, then measured); instrumentation is switched on between the phases and the counters dumped after
// the second, so start-up, connection set-up, JIT warm-up and shutdown are not counted. (Zeroing counters
// with callgrind_control --zero instead overcounts the dump's cost lines by 1-3% in valgrind 3.19: their sum
// exceeds the dump's own summary; with --instr-atstart=no the two agree, and they match the difference of
// two runs of 2 and 3 phases.) The dump is split by object file and by function (self cost). In the wss
// scenario the server serves https with the bench's certificate and the load client speaks TLS; the TLS bucket
// is OpenSSL (linked into the node binary, so found by source file and symbol name) plus node::crypto (TLSWrap).
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { startProcess, stopProcess, waitForExit, waitForLine } from './processes.mjs';
import { LISTENING } from './servers.mjs';

const run = promisify(execFile);
const PHASE = /^\{"event":"phase".*\}$/;

/** Messages per phase when --messages is not given: enough that fixed costs vanish, few enough for callgrind. */
export const DEFAULT_MESSAGES = { small: 20_000, pipelined: 20_000, latency: 5_000, large: 1_000, deflate: 10_000, wss: 10_000 };

// Self cost is put into one bucket per message: malloc/free by function name wherever it lives, then by object.
const MALLOC_FN = /^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|_int_realloc|_int_memalign|malloc_consolidate|sysmalloc|unlink_chunk|tcache_\w+|__libc_(malloc|free|calloc|realloc|memalign)|posix_memalign|aligned_alloc|memalign|operator new|operator delete)\b/;
// The entry points an application calls; counted as calls per message, not from inside the allocator.
// C++ new/delete count here too (their own malloc/free calls do not, being made from inside the family).
const MALLOC_ENTRY = /^(malloc|calloc|realloc|__libc_malloc|__libc_calloc|__libc_realloc|posix_memalign|aligned_alloc|memalign)$|^operator new/;
const FREE_ENTRY = /^(free|cfree|__libc_free)$|^operator delete/;

export const BUCKETS = ['libwslay', 'malloc/free', 'addon', 'TLS', 'node+V8', 'JS', 'libc other', 'server binary', 'other'];

// OpenSSL's functions by name: its API and internals (SSL_*, ssl3_*, tls1_*, EVP_*, ossl_*, BIO_*, ERR_*, ...) and
// its assembly (AES-NI, GCM/GHASH, SHA, ChaCha20/Poly1305, P-256), which has no source file in the debug info.
const TLS_FN = new RegExp('^(ossl_|OSSL_|EVP_|evp_|SSL_|ssl_|ssl3_|do_ssl3_|tls1?_|tls13_|dtls1?_|OPENSSL_|CRYPTO_|BIO_|bio_|ERR_|err_' +
  '|W?PACKET_|generic_aes' +
  '|aesni_|_?aesni|aes_|AES_|gcm_|CRYPTO_gcm|ghash|_?sha(1|256|512)|SHA(1|224|256|384|512)|ChaCha20|chacha20|Poly1305' +
  '|poly1305|x25519|ecp_nistz256|bn_|BN_|EC_|ec_|ecdsa|ECDSA|HMAC|hmac_|RAND_|rand_|drbg_|OBJ_|ASN1_|asn1_|X509|x509' +
  '|PEM_|engine_|ENGINE_|HKDF|kdf_|cipher_)|^node::crypto::');

function bucketOf(object, fn, file) {
  if (MALLOC_FN.test(fn)) return 'malloc/free';
  if (/libwslay\.so/.test(object)) return 'libwslay';
  if (/\.node$/.test(object)) return 'addon';
  // A node linked against the system's OpenSSL has it in libssl/libcrypto; Node's own build links it in.
  if (/\/lib(ssl|crypto)\.so/.test(object) || /(^|\/)(deps\/)?openssl\//.test(file) || TLS_FN.test(fn)) return 'TLS';
  // JS: V8's embedded builtins (the interpreter, IC stubs, API call trampolines) and JIT-compiled code.
  if (fn.startsWith('Builtins_') || object === '???' || object === '') return 'JS';
  if (basename(object) === 'node' || basename(object).startsWith('node-')) return 'node+V8';
  if (/\/libc[.-]/.test(object) || /\/libc\.so/.test(object)) return 'libc other';
  if (/wslay-echo-server$/.test(object)) return 'server binary';
  return 'other';
}

/**
 * Self cost (Ir) per object and per function from one callgrind dump, and the calls into malloc/free.
 * Format: valgrind.org/docs/manual/cl-format.html; names may be compressed as "(id) name" / "(id)".
 */
export function parseCallgrind(text) {
  const names = { ob: new Map(), fl: new Map(), fn: new Map() };
  const resolve = (kind, value) => {
    const m = value.match(/^\((\d+)\)(?: (.*))?$/);
    if (!m) return value;
    if (m[2] !== undefined) names[kind].set(m[1], m[2]);
    return names[kind].get(m[1]) ?? value;
  };
  let ob = '', fl = '', fn = '', cfn = '', afterCall = false;
  let total = 0, summary = null, mallocCalls = 0, freeCalls = 0;
  const functions = new Map(); // key ob\tfl\tfn -> Ir
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) { // cost line: position then Ir
      if (afterCall) { afterCall = false; continue; } // a call's inclusive cost, not the caller's own
      const fields = line.split(' ');
      const ir = Number(fields[1] ?? 0);
      if (!ir) continue;
      total += ir;
      const key = `${ob}\t${fl}\t${fn}`;
      functions.set(key, (functions.get(key) ?? 0) + ir);
      continue;
    }
    if (line.startsWith('summary:')) summary = Number(line.slice(8).trim().split(' ')[0]);
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq), value = line.slice(eq + 1);
    switch (key) {
      case 'ob': ob = resolve('ob', value); break;
      case 'fl': fl = resolve('fl', value); break;
      case 'fi': case 'fe': resolve('fl', value); break; // inlined code: the function's bucket stays
      case 'fn': fn = resolve('fn', value).replace(/'\d+$/, ''); break; // name'2: a recursion level
      case 'cob': resolve('ob', value); break;
      case 'cfi': case 'cfl': resolve('fl', value); break;
      case 'cfn': cfn = resolve('fn', value).replace(/'\d+$/, ''); break;
      case 'calls': {
        afterCall = true;
        const count = Number(value.split(' ')[0]);
        if (!MALLOC_FN.test(fn)) {
          if (MALLOC_ENTRY.test(cfn)) mallocCalls += count;
          else if (FREE_ENTRY.test(cfn)) freeCalls += count;
        }
        break;
      }
      default: break;
    }
  }
  return { total, summary, mallocCalls, freeCalls, functions };
}

/** Per-message figures from a parsed dump of `messages` echoes. */
export function perMessage(parsed, messages, top = 30) {
  const buckets = Object.fromEntries(BUCKETS.map((b) => [b, 0]));
  const rows = [];
  const byName = new Map(); // object|file:function -> Ir/msg, for comparing two builds (paths differ)
  for (const [key, ir] of parsed.functions) {
    const [object, file, fn] = key.split('\t');
    buckets[bucketOf(object, fn, file)] += ir;
    const row = { function: `${basename(file) || '???'}:${fn}`, object: basename(object), ir };
    rows.push(row);
    const name = `${row.object}|${row.function}`;
    byName.set(name, (byName.get(name) ?? 0) + ir / messages);
  }
  rows.sort((a, b) => b.ir - a.ir);
  const round = (v) => Math.round(v / messages);
  // The self costs must add up to the dump's own summary; if not, the split is not to be trusted.
  if (parsed.summary !== null && Math.abs(parsed.total - parsed.summary) > parsed.summary * 0.005) {
    throw new Error(`callgrind dump: self costs add up to ${parsed.total}, its summary says ${parsed.summary}`);
  }
  return {
    messages,
    instructions_per_msg: round(parsed.total),
    buckets: Object.fromEntries(Object.entries(buckets).filter(([, v]) => v > 0).map(([k, v]) => [k, round(v)])),
    // The part of the server's instructions that is TLS (OpenSSL + node::crypto), in percent.
    tls_share_pct: parsed.total > 0 ? Number((100 * buckets.TLS / parsed.total).toFixed(1)) : 0,
    malloc_per_msg: Number((parsed.mallocCalls / messages).toFixed(2)),
    free_per_msg: Number((parsed.freeCalls / messages).toFixed(2)),
    top_functions: rows.slice(0, top).map((r) => ({ ...r, ir: round(r.ir) })),
    byName,
  };
}

/**
 * What changed from one build to another: the functions whose self cost per message moved by at least
 * `min` instructions, largest first. JIT code has no stable names, so it is left out (its total is in the buckets).
 */
export function functionChanges(before, after, min = 20) {
  const rows = [];
  for (const name of new Set([...before.keys(), ...after.keys()])) {
    if (name.startsWith('???|')) continue;
    const a = before.get(name) ?? 0, b = after.get(name) ?? 0;
    if (Math.abs(b - a) < min) continue;
    const [object, fn] = name.split('|');
    rows.push({ function: fn, object, before: Math.round(a), after: Math.round(b), change: Math.round(b - a) });
  }
  return rows.sort((x, y) => Math.abs(y.change) - Math.abs(x.change));
}

function loadArgs(port, scenario, messages) {
  return ['--port', String(port), '--mode', 'echo', '--conns', String(scenario.conns), '--inflight', String(scenario.inflight),
    '--size', String(scenario.size), scenario.text ? '--text' : '--binary', '--messages', String(messages), '--phases', '2',
    ...(scenario.tls ? ['--tls'] : [])];
}

/**
 * One server under callgrind, one scenario: warm-up phase, instrumentation on, measured phase, dump. Returns the
 * per-message figures and the dump's path (kept in outDir for callgrind_annotate). `tls`: the { cert, key } files
 * of a TLS scenario.
 */
export async function runCallgrindScenario({ client, server, scenario, messages, outDir, tag, tls = null }) {
  mkdirSync(outDir, { recursive: true });
  const [command, args] = server.command(false, tls);
  const outPattern = join(outDir, `${tag}.%p.out`);
  // Without an inherited LD_PRELOAD (the ASan suite's libasan): valgrind cannot run a program preloaded with it.
  const { LD_PRELOAD: _preload, ...env } = process.env;
  const proc = startProcess('valgrind', ['--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${outPattern}`,
    command, ...args], { env });
  let load = null;
  try {
    const port = Number((await waitForLine(proc, LISTENING, 300_000, `${server.label} under callgrind`))[1]);
    const pid = proc.child.pid; // valgrind runs the program in its own process: same pid
    load = startProcess(client, loadArgs(port, scenario, messages), { stdin: 'pipe' });
    const phaseLimit = 1_800_000;
    const warm = JSON.parse((await waitForLine(load, PHASE, phaseLimit, 'load client warm-up'))[0]);
    if (warm.messages !== messages) throw new Error(`warm-up echoed ${warm.messages} of ${messages} (errors ${warm.errors})`);
    await run('callgrind_control', ['--instr=on', String(pid)], { timeout: 120_000 });
    load.child.stdin.write('\n');
    // Lines are matched from the start: skip the warm-up's line.
    const measured = JSON.parse((await waitForLine(load, /^\{"event":"phase","phase":2.*\}$/, phaseLimit, 'load client'))[0]);
    if (measured.messages !== messages) throw new Error(`measured phase echoed ${measured.messages} of ${messages} (errors ${measured.errors})`);
    await run('callgrind_control', ['--dump', String(pid)], { timeout: 120_000 });
    load.child.stdin.end();
    await waitForExit(load, 30_000);
    const dump = join(outDir, `${tag}.${pid}.out.1`);
    const figures = perMessage(parseCallgrind(readFileSync(dump, 'utf8')), messages);
    return { ...figures, errors: measured.errors, dump };
  } finally {
    if (load && !load.exited) await stopProcess(load, 1000);
    await stopProcess(proc, 20_000);
    // The exit dump (start-up + warm-up + shutdown) is of no use; the measured one is kept.
    if (proc.child.pid) rmSync(join(outDir, `${tag}.${proc.child.pid}.out`), { force: true });
  }
}

const thousands = (v) => (v === null || v === undefined ? '-' : Math.round(v).toLocaleString('en-US'));

/** The stdout table: instructions per message by bucket, one row per scenario and server. */
export function formatCallgrindTable(results) {
  const used = BUCKETS.filter((b) => results.scenarios.some((s) => Object.values(s.servers).some((e) => e.buckets?.[b])));
  const header = ['scenario', 'server', 'Ir/msg', ...used, 'malloc/msg', 'free/msg'];
  const rows = [header];
  for (const s of results.scenarios) {
    for (const [name, e] of Object.entries(s.servers)) {
      if (e.error) { rows.push([s.name, name, `failed: ${e.error}`]); continue; }
      if (e.skipped) { rows.push([s.name, name, `skipped: ${e.skipped}`]); continue; }
      rows.push([s.name, name, thousands(e.instructions_per_msg), ...used.map((b) => thousands(e.buckets[b] ?? 0)),
        e.malloc_per_msg.toFixed(1), e.free_per_msg.toFixed(1)]);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.filter((r) => r.length === header.length).map((r) => String(r[i]).length)));
  return rows.map((r) => (r.length !== header.length ? r.join('  ')
    : r.map((cell, i) => (i < 2 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]))).join('  '))).join('\n');
}

/** Is valgrind (with callgrind_control) installed? */
export async function callgrindAvailable() {
  try {
    await run('valgrind', ['--version']);
    await run('callgrind_control', ['--help']).catch((error) => { if (error.code === 'ENOENT') throw error; });
    return true;
  } catch {
    return false;
  }
}
