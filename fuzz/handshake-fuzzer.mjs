#!/usr/bin/env node
// Mutation fuzzer over the TypeScript handshake (dist/, built by scripts/setup.mjs): the client's response parser,
// the server's request validation and answer (planUpgradeAnswer), the extension header grammar and both sides of
// the permessage-deflate negotiation. libFuzzer cannot run JavaScript; this is a plain mutation fuzzer without
// coverage feedback: a fixed corpus of valid requests, responses and extension headers (generated from random
// options), mutated byte- and token-wise by a seeded PRNG. Iteration i of seed s is fully determined by (s, i), so
// a finding is replayed with `--seed s --iteration i`.
//
// Oracles:
//   - a parser returns a well-formed result or throws only the library's typed errors (HeaderSyntaxError,
//     HandshakeError with a documented code); the server answers 101, 400 or 426, never throws;
//   - no call takes longer than --slow-ms (a worker thread runs the loop; a watchdog names an iteration that hangs);
//   - a negotiation result is a valid RFC 7692 parameter set that our own client accepts when the server's answer is
//     fed back, and both ends agree on what is safe (each side inflates with a window at least as large as the
//     other compresses with; a side that resets its context is known to reset);
//   - format then parse is stable (extension headers; a parsed response parsed again from a prefix).
//
// Usage: node fuzz/handshake-fuzzer.mjs [--seconds N] [--seed S] [--iteration I] [--slow-ms MS] [--stats]
// Prints one line: executions, exec/s, findings. Findings go to build/fuzz/handshake-findings/ (JSON) and the
// exit status is 1.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { isDeepStrictEqual } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
};

if (isMainThread) {
  const seconds = Number(arg('--seconds', 30));
  const seed = Number(arg('--seed', Date.now() % 2 ** 31));
  const only = arg('--iteration', undefined);
  const slowMs = Number(arg('--slow-ms', 100));
  const findingsDir = join(root, 'build', 'fuzz', 'handshake-findings');
  const heartbeat = new Int32Array(new SharedArrayBuffer(8)); // [0] = iteration in progress, [1] = beats
  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: { seconds, seed, only: only === undefined ? -1 : Number(only), slowMs, heartbeat, stats: process.argv.includes('--stats') },
  });
  const findings = [];
  let stats = { executions: 0, seconds: 0 };
  const distinct = new Set();
  let total = 0;
  const record = (f) => {
    total++;
    const what = `${f.target}: ${f.message.replace(/\d+/g, 'N')}`;
    if (distinct.has(what)) return;  // one file per kind of finding
    distinct.add(what);
    findings.push(f);
    mkdirSync(findingsDir, { recursive: true });
    const file = join(findingsDir, `${seed}-${f.iteration}.json`);
    writeFileSync(file, `${JSON.stringify(f, null, 2)}\n`);
    if (findings.length <= 5) console.error(`handshake-fuzzer: ${f.target}: ${f.message} (${file})`);
  };
  worker.on('message', (m) => (m.finding ? record(m.finding) : (stats = m)));
  let lastBeat = -1;
  let stalled = 0;
  const watchdog = setInterval(() => {
    const beat = Atomics.load(heartbeat, 1);
    stalled = beat === lastBeat ? stalled + 1 : 0;
    lastBeat = beat;
    if (stalled >= 10) {  // 10 s inside one iteration: a hang
      clearInterval(watchdog);
      const iteration = Atomics.load(heartbeat, 0);
      record({ seed, iteration, target: 'any', message: 'hang: one iteration ran for more than 10 s' });
      void worker.terminate();
    }
  }, 1000);
  worker.on('error', (err) => record({ seed, iteration: Atomics.load(heartbeat, 0), target: 'any', message: `worker died: ${err.stack}` }));
  worker.on('exit', () => {
    clearInterval(watchdog);
    const rate = stats.seconds > 0 ? Math.round(stats.executions / stats.seconds) : 0;
    console.log(`fuzz: handshake-fuzzer (seed ${seed}): ${stats.executions} executions in ${stats.seconds.toFixed(0)} s ` +
      `(${rate}/s), ${total} findings${total ? ` (${findings.length} distinct, in ${findingsDir})` : ''}`);
    process.exitCode = findings.length ? 1 : 0;
  });
} else {
  const { seconds, seed, only, slowMs, heartbeat, stats } = workerData;
  const { run, outcomes } = await setUp();
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let executions = 0;
  let reported = 0;
  for (let i = only >= 0 ? only : 0; ; i++) {
    Atomics.store(heartbeat, 0, i);
    Atomics.add(heartbeat, 1, 1);
    const finding = run(seed, i, slowMs);
    executions++;
    if (finding && reported++ < 1000) parentPort.postMessage({ finding: { seed, iteration: i, ...finding } });
    if (only >= 0 || (i % 64 === 0 && performance.now() > deadline)) break;
  }
  if (stats) console.error(JSON.stringify(outcomes, null, 1));
  parentPort.postMessage({ executions, seconds: (performance.now() - started) / 1000 });
}

async function setUp() {
  const dist = (f) => import(join(root, 'dist', f));
  const { HandshakeError, HeaderSyntaxError } = await dist('errors.js');
  const { formatExtensions, parseExtensions, parseProtocols, isToken } = await dist('extensions.js');
  const hs = await dist('handshake.js');
  const pmd = await dist('permessage-deflate.js');
  const { planUpgradeAnswer } = await dist('server.js');

  // ------------------------------------------------------------------------------------------------------------
  // A seeded PRNG (xorshift32 over a splitmix-style seed mix) and the helpers that draw from it.
  const mix = (a, b) => {
    let h = (a ^ Math.imul(b + 0x9e3779b9, 0x85ebca6b)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0;
    return (h ^ (h >>> 16)) >>> 0 || 1;
  };
  class Rng {
    constructor(state) {
      this.s = state;
    }
    next() {
      let x = this.s;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.s = x >>> 0;
      return this.s;
    }
    int(n) {
      return this.next() % n;
    }
    chance(p) {
      return this.next() / 2 ** 32 < p;
    }
    pick(list) {
      return list[this.int(list.length)];
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Random valid inputs: deflate options for either side, offers, requests and responses built by our own code.
  const bits = (r) => (r.chance(0.5) ? undefined : 8 + r.int(8));
  const bool = (r) => r.pick([undefined, true, false]);
  const deflateOptions = (r) => ({
    serverNoContextTakeover: bool(r),
    clientNoContextTakeover: bool(r),
    serverMaxWindowBits: bits(r),
    clientMaxWindowBits: bits(r),
  });
  const KEYS = ['dGhlIHNhbXBsZSBub25jZQ==', 'AQIDBAUGBwgJCgsMDQ4PEA==', 'x3JJHMbDL1EzLkh9GBhXDw=='];
  const PROTOCOLS = ['chat', 'superchat', 'v1.json', 'mqtt', 'x'];
  const someProtocols = (r) => PROTOCOLS.filter(() => r.chance(0.4));
  const extraHeaders = (r) => {
    const h = {};
    if (r.chance(0.5)) h.Origin = 'http://example.com';
    if (r.chance(0.3)) h['X-Long'] = 'v'.repeat(r.int(300));
    if (r.chance(0.3)) h['Set-Cookie'] = ['a=1', 'b=2; Path=/'];
    return h;
  };
  const offerElements = (r) => {
    const out = [];
    if (r.chance(0.3)) out.push({ name: 'x-webkit-deflate-frame', params: [] });
    out.push(pmd.buildClientOffer(deflateOptions(r)));
    if (r.chance(0.3)) out.push(pmd.buildClientOffer(deflateOptions(r)));
    return out;
  };

  // A request head parsed roughly as Node's http parser would (lower-case names, repeats joined with ", "), or
  // null when Node would not have emitted 'upgrade' for it at all.
  const parseRequestHead = (text, r) => {
    const end = text.indexOf('\r\n\r\n');
    if (end === -1) return null;
    const lines = text.slice(0, end).split('\r\n');
    const m = /^([A-Z]+) (\S+) HTTP\/(\d\.\d)$/.exec(lines[0]);
    if (!m) return null;
    const headers = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0 || !isToken(line.slice(0, colon))) return null;
      const value = line.slice(colon + 1).trim();
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return null;
      const name = line.slice(0, colon).toLowerCase();
      const prev = headers[name];
      if (prev === undefined) headers[name] = r.chance(0.1) ? [value] : value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = `${prev}, ${value}`;
    }
    return { method: m[1], httpVersion: m[3], url: m[2], headers };
  };

  // ------------------------------------------------------------------------------------------------------------
  // Mutations: byte-wise and token-wise over a latin1 string.
  const DICTIONARY = ['permessage-deflate', 'server_no_context_takeover', 'client_no_context_takeover',
    'server_max_window_bits', 'client_max_window_bits', '8', '9', '15', '16', '7', '08', '0', '=', ';', ',', ', ',
    '"', '"15"', '\\', ' ', '\t', '\r\n', '\r\n\r\n', ':', 'websocket', 'Upgrade', 'upgrade', '101', '400', '13',
    'HTTP/1.1', 'HTTP/1.0', 'GET', 'Sec-WebSocket-Extensions: ', 'Sec-WebSocket-Protocol: ', 'Sec-WebSocket-Accept: ',
    'Sec-WebSocket-Key: ', 'Sec-WebSocket-Version: ', 'Connection: ', '\x00', '\x7f', '\xff', '\x80', 'chat'];
  const SEPARATORS = /([\s,;=:"\\]+)/;
  const mutateOnce = (s, r, corpus) => {
    const at = () => r.int(s.length + 1);
    switch (r.int(11)) {
      case 0: { // flip a bit
        if (!s.length) return s;
        const i = r.int(s.length);
        return s.slice(0, i) + String.fromCharCode(s.charCodeAt(i) ^ (1 << r.int(8))) + s.slice(i + 1);
      }
      case 1: { // set a byte
        if (!s.length) return s;
        const i = r.int(s.length);
        return s.slice(0, i) + String.fromCharCode(r.int(256)) + s.slice(i + 1);
      }
      case 2: { // insert a dictionary word
        const i = at();
        return s.slice(0, i) + r.pick(DICTIONARY) + s.slice(i);
      }
      case 3: { // delete a range
        const i = at();
        return s.slice(0, i) + s.slice(i + 1 + r.int(8));
      }
      case 4: { // duplicate a range
        const i = at();
        const j = Math.min(s.length, i + 1 + r.int(32));
        return s.slice(0, j) + s.slice(i, j) + s.slice(j);
      }
      case 5: { // repeat a range many times (long values, for the slow-input oracle)
        const i = at();
        const j = Math.min(s.length, i + 1 + r.int(4));
        return s.slice(0, j) + s.slice(i, j).repeat(r.int(20000 / (j - i + 1))) + s.slice(j);
      }
      case 6: case 7: case 8: { // token-wise: replace, drop or duplicate a token
        const parts = s.split(SEPARATORS);
        const i = r.int(parts.length);
        const op = r.int(3);
        if (op === 0) parts[i] = r.pick(DICTIONARY);
        else if (op === 1) parts.splice(i, 1);
        else parts.splice(i, 0, parts[i]);
        return parts.join('');
      }
      case 9: { // splice in a piece of another corpus entry
        const other = r.pick(corpus);
        const i = r.int(other.length + 1);
        const j = Math.min(other.length, i + r.int(64));
        const k = at();
        return s.slice(0, k) + other.slice(i, j) + s.slice(k);
      }
      default: { // swap two tokens
        const parts = s.split(SEPARATORS);
        const i = r.int(parts.length);
        const j = r.int(parts.length);
        [parts[i], parts[j]] = [parts[j], parts[i]];
        return parts.join('');
      }
    }
  };
  let lastInput; // the mutated input of the iteration in progress, for its finding
  const mutate = (s, r, corpus) => {
    const n = 1 + r.int(r.chance(0.5) ? 2 : 8);
    for (let k = 0; k < n; k++) s = mutateOnce(s, r, corpus);
    lastInput = s.length > 70000 ? s.slice(0, 70000) : s;
    return lastInput;
  };

  // ------------------------------------------------------------------------------------------------------------
  // The seed corpora, generated once from a fixed seed.
  const gen = new Rng(12345);
  const extensionCorpus = [
    'permessage-deflate', 'permessage-deflate; client_max_window_bits',
    'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9',
    'permessage-deflate; client_max_window_bits="12", permessage-deflate', 'foo; bar="baz", permessage-deflate;server_max_window_bits=8',
    'chat, superchat', ' , ,permessage-deflate ;  client_max_window_bits = 15 ,',
  ];
  for (let i = 0; i < 40; i++) extensionCorpus.push(formatExtensions(offerElements(gen)));
  const requestCorpus = [];
  for (let i = 0; i < 40; i++) {
    requestCorpus.push(hs.buildClientRequest({
      host: gen.pick(['example.com', '127.0.0.1:8080', '[::1]:9']), path: gen.pick(['/', '/chat?x=1']),
      key: gen.pick(KEYS), protocols: someProtocols(gen), extensions: gen.chance(0.8) ? offerElements(gen) : undefined,
      headers: extraHeaders(gen),
    }));
  }
  const responseCorpus = [];
  const responseKey = new Map(); // corpus entry → the key its Sec-WebSocket-Accept answers
  for (let i = 0; i < 40; i++) {
    const key = KEYS[i % KEYS.length];
    const element = gen.chance(0.7) ? pmd.acceptOffer(pmd.buildClientOffer(deflateOptions(gen)), deflateOptions(gen)) : {};
    responseCorpus.push(hs.buildUpgradeResponse({
      key,
      protocol: gen.chance(0.5) ? gen.pick(PROTOCOLS) : undefined,
      extensions: element.response ? [element.response] : undefined, headers: extraHeaders(gen),
    }));
    responseKey.set(responseCorpus.at(-1), key);
  }
  responseCorpus.push(hs.formatHttpResponse(400, { 'Content-Length': '3' }, 'bad'),
    hs.formatHttpResponse(426, { 'Sec-WebSocket-Version': '13', Upgrade: 'websocket' }));

  // ------------------------------------------------------------------------------------------------------------
  // Oracles
  class Finding extends Error {}
  const fail = (what) => {
    throw new Finding(what);
  };
  const RESPONSE_CODES = new Set(['BAD_STATUS', 'BAD_ACCEPT', 'BAD_EXTENSION', 'BAD_PROTOCOL', 'BAD_RESPONSE']);
  const PARSE_CODES = new Set(['HEADERS_TOO_LARGE', 'BAD_RESPONSE']);
  const expectTyped = (err, codes) => {
    if (err instanceof Finding) throw err;
    if (codes === 'syntax') {
      if (!(err instanceof HeaderSyntaxError)) fail(`threw ${err?.name}: ${err?.message}`);
    } else if (!(err instanceof HandshakeError) || !codes.has(err.code)) {
      fail(`threw ${err?.name} ${err?.code ?? ''}: ${err?.message}`);
    }
  };
  const KNOWN = new Set(['server_no_context_takeover', 'client_no_context_takeover', 'server_max_window_bits',
    'client_max_window_bits']);
  const isBits = (n) => Number.isInteger(n) && n >= 8 && n <= 15;
  const checkNegotiated = (n, where) => {
    if (!isBits(n.serverMaxWindowBits) || !isBits(n.clientMaxWindowBits)) fail(`${where}: window bits out of 8..15`);
    if (typeof n.serverNoContextTakeover !== 'boolean' || typeof n.clientNoContextTakeover !== 'boolean') {
      fail(`${where}: no_context_takeover not a boolean`);
    }
  };
  // A response element must be a valid RFC 7692 §7 parameter set for a response.
  const checkResponseElement = (e) => {
    if (e.name !== 'permessage-deflate') fail(`response names ${e.name}`);
    const seen = new Set();
    for (const { name, value } of e.params) {
      if (!KNOWN.has(name) || seen.has(name)) fail(`response parameter ${name} unknown or repeated`);
      seen.add(name);
      if (name.endsWith('takeover') ? value !== true : !/^(8|9|1[0-5])$/.test(String(value))) {
        fail(`response parameter ${name}=${value} is invalid`);
      }
    }
  };
  // What a client that sent `offer` would have had as options (our client's offers have exactly this shape).
  const optionsFromOffer = (offer) => {
    const o = {};
    for (const { name, value } of offer.params) {
      if (name === 'server_no_context_takeover') o.serverNoContextTakeover = true;
      if (name === 'client_no_context_takeover') o.clientNoContextTakeover = true;
      if (name === 'server_max_window_bits') o.serverMaxWindowBits = Number(value);
      if (name === 'client_max_window_bits' && value !== true) o.clientMaxWindowBits = Number(value);
    }
    return o;
  };
  // Safe together: each side inflates with a window at least as large as the other compresses with, and a side
  // believed to reset its context (so the other may drop its inflate state between messages) does reset.
  const checkAgreement = (server, client) => {
    checkNegotiated(server, 'server');
    checkNegotiated(client, 'client');
    if (client.serverMaxWindowBits < server.serverMaxWindowBits) fail('client inflates with a smaller window than the server compresses with');
    if (server.clientMaxWindowBits < client.clientMaxWindowBits) fail('server inflates with a smaller window than the client compresses with');
    if (client.serverNoContextTakeover && !server.serverNoContextTakeover) fail('client expects server_no_context_takeover the server does not do');
    if (server.clientNoContextTakeover && !client.clientNoContextTakeover) fail('server expects client_no_context_takeover the client does not do');
    const s = pmd.deflateParamsFor('server', server);
    const c = pmd.deflateParamsFor('client', client);
    if (c.decompressWindowBits < s.compressWindowBits || s.decompressWindowBits < c.compressWindowBits) {
      fail('deflateParamsFor: a decompress window below the peer\'s compress window');
    }
  };

  // The server's negotiation over parsed offers, fed back into our client.
  const checkServerNegotiation = (offers, serverOptions) => {
    const result = pmd.negotiateServer(offers, serverOptions);
    const chosen = offers.find((o) => o.name === 'permessage-deflate' && 'response' in pmd.acceptOffer(o, serverOptions));
    if (!result) {
      if (chosen) fail('negotiateServer declined an offer acceptOffer accepts');
      return;
    }
    checkResponseElement(result.response);
    const offered = optionsFromOffer(chosen);
    const p = result.negotiated;
    if (offered.serverNoContextTakeover && !p.serverNoContextTakeover) fail('requested server_no_context_takeover dropped');
    if (serverOptions.serverNoContextTakeover === false && p.serverNoContextTakeover) fail('server_no_context_takeover although disabled');
    if (offered.serverMaxWindowBits !== undefined && p.serverMaxWindowBits > offered.serverMaxWindowBits) fail('server window above the request');
    if (serverOptions.serverMaxWindowBits !== undefined && p.serverMaxWindowBits > serverOptions.serverMaxWindowBits) fail('server window above the option');
    const clientBitsOffered = chosen.params.some((x) => x.name === 'client_max_window_bits');
    if (!clientBitsOffered && result.response.params.some((x) => x.name === 'client_max_window_bits')) {
      fail('client_max_window_bits in a response to an offer without it');
    }
    // Format, parse and accept as our client would.
    const header = formatExtensions([result.response]);
    const back = parseExtensions(header);
    if (!isDeepStrictEqual(back, [result.response])) fail('response element does not survive format and parse');
    let client;
    try {
      client = pmd.negotiateClient(back, offered);
    } catch (err) {
      fail(`our client rejects our server's answer ${JSON.stringify(header)} to ${JSON.stringify(formatExtensions([chosen]))}: ${err.message}`);
    }
    checkAgreement(p, client);
  };

  const targets = {
    // Sec-WebSocket-Extensions / -Protocol grammar, format/parse stability, then negotiation on what parsed.
    extensions(r) {
      const input = mutate(r.pick(extensionCorpus), r, extensionCorpus);
      const serverOptions = deflateOptions(r);
      let parsed;
      try {
        parsed = parseExtensions(input);
      } catch (err) {
        expectTyped(err, 'syntax');
      }
      try {
        const protocols = parseProtocols(input);
        if (new Set(protocols).size !== protocols.length || !protocols.every(isToken)) fail('parseProtocols: bad list');
      } catch (err) {
        expectTyped(err, 'syntax');
      }
      if (parsed) {
        for (const e of parsed) {
          if (!isToken(e.name) || !e.params.every((p) => isToken(p.name) && (p.value === true || isToken(p.value)))) {
            fail('parseExtensions returned a non-token');
          }
        }
        const formatted = formatExtensions(parsed);
        const again = parseExtensions(formatted);
        if (!isDeepStrictEqual(again, parsed)) fail('format then parse changed the elements');
        if (formatExtensions(again) !== formatted) fail('format is not a fixed point');
        checkServerNegotiation(parsed, serverOptions);
      }
      return { input, serverOptions, reached: parsed ? 'parsed' : 'syntax error' };
    },

    // Random valid options on both sides, through our own request builder, server and client: must agree.
    roundTrip(r) {
      const clientOptions = deflateOptions(r);
      const serverOptions = deflateOptions(r);
      const key = r.pick(KEYS);
      const text = hs.buildClientRequest({ host: 'h', path: '/', key, extensions: [pmd.buildClientOffer(clientOptions)] });
      const req = parseRequestHead(text, r);
      const answer = planUpgradeAnswer(req, { perMessageDeflate: serverOptions });
      if (!answer.ok) fail('server rejected our own client\'s request');
      const res = hs.parseServerResponse(Buffer.from(answer.response, 'latin1'));
      const accepted = hs.validateServerResponse(res, { key, perMessageDeflate: clientOptions });
      if (!answer.deflate) {
        if (!(clientOptions.serverNoContextTakeover === true && serverOptions.serverNoContextTakeover === false)) {
          fail('server declined an offer it could accept');
        }
        if (accepted.deflate) fail('client negotiated deflate the server declined');
      } else {
        if (!accepted.deflate) fail('client did not see the server\'s deflate');
        checkAgreement(answer.deflate, accepted.deflate);
      }
      return { clientOptions, serverOptions, reached: answer.deflate ? 'deflate agreed' : 'declined' };
    },

    // The server's request validation and answer on mutated requests; a 101 is fed back into our client.
    request(r) {
      const input = mutate(r.pick(requestCorpus), r, requestCorpus);
      const req = parseRequestHead(input, r);
      if (!req) return { input, reached: 'not HTTP' };
      const options = { perMessageDeflate: r.chance(0.8) ? deflateOptions(r) : undefined, protocols: r.chance(0.7) ? someProtocols(r) : undefined };
      let answer;
      try {
        answer = planUpgradeAnswer(req, options);
      } catch (err) {
        fail(`planUpgradeAnswer threw ${err?.name}: ${err?.message}`);
      }
      let res;
      try {
        res = hs.parseServerResponse(Buffer.from(answer.response, 'latin1'), 1 << 20);
      } catch (err) {
        fail(`our client cannot parse the server's answer: ${err.message}`);
      }
      if (res === 'incomplete') fail('server answer is incomplete');
      if (!answer.ok) {
        if (res.status !== 400 && res.status !== 426) fail(`rejected with status ${res.status}`);
        if (res.status === 426 && res.headers['sec-websocket-version'] !== '13') fail('426 without Sec-WebSocket-Version: 13');
        return { input, options, reached: `rejected ${res.status}` };
      }
      if (res.status !== 101) fail(`accepted with status ${res.status}`);
      const v = hs.validateUpgradeRequest(req);
      const chosen = answer.deflate
        ? v.extensions.find((o) => o.name === 'permessage-deflate' && 'response' in pmd.acceptOffer(o, options.perMessageDeflate))
        : undefined;
      let accepted;
      try {
        accepted = hs.validateServerResponse(res, {
          key: v.key, protocols: v.protocols, perMessageDeflate: chosen ? optionsFromOffer(chosen) : null,
        });
      } catch (err) {
        fail(`our client rejects the server's 101: ${err.code} ${err.message}`);
      }
      if (answer.protocol !== accepted.protocol) fail('client and server disagree on the subprotocol');
      if (answer.protocol !== undefined && !(options.protocols ?? []).includes(answer.protocol)) fail('server chose a protocol it does not speak');
      if (answer.deflate) checkAgreement(answer.deflate, accepted.deflate);
      return { input, options, reached: answer.deflate ? '101 with deflate' : '101' };
    },

    // The client's response parser and validation on mutated responses.
    response(r) {
      const seedInput = r.pick(responseCorpus);
      const input = mutate(seedInput, r, responseCorpus);
      const bytes = Buffer.from(input, 'latin1');
      const maxHeaderSize = r.pick([hs.DEFAULT_MAX_HEADER_SIZE, 1 << 20, 64 + r.int(512)]);
      let res;
      try {
        res = hs.parseServerResponse(bytes, maxHeaderSize);
      } catch (err) {
        expectTyped(err, PARSE_CODES);
        return { input, maxHeaderSize, reached: err.code };
      }
      const end = bytes.subarray(0, maxHeaderSize).indexOf('\r\n\r\n');
      if (res === 'incomplete') {
        if (end !== -1 || bytes.length >= maxHeaderSize) fail('incomplete although the head is there or too large');
        return { input, maxHeaderSize, reached: 'incomplete' };
      }
      if (res.bodyOffset !== end + 4) fail('bodyOffset is not after the first blank line');
      if (!/^\d\.\d$/.test(res.httpVersion) || !Number.isInteger(res.status) || res.status < 0 || res.status > 999) fail('bad status line result');
      for (const [name, value] of res.rawHeaders) {
        if (!isToken(name) || /[\r\n\0]/.test(value) || /^[ \t]|[ \t]$/.test(value)) fail(`bad header ${JSON.stringify(name)}`);
        if (!(name.toLowerCase() in res.headers)) fail('raw header missing from headers');
      }
      // Stable under a prefix: the head alone parses the same; a shorter prefix is incomplete.
      if (!isDeepStrictEqual(hs.parseServerResponse(bytes.subarray(0, res.bodyOffset), maxHeaderSize), res)) fail('head alone parses differently');
      if (hs.parseServerResponse(bytes.subarray(0, r.int(res.bodyOffset)), maxHeaderSize) !== 'incomplete') fail('a prefix is not incomplete');
      const clientOptions = r.chance(0.7) ? deflateOptions(r) : null;
      const offer = { key: r.chance(0.9) ? (responseKey.get(seedInput) ?? KEYS[0]) : r.pick(KEYS), protocols: someProtocols(r), perMessageDeflate: clientOptions, extensions: r.chance(0.2) ? ['foo'] : undefined };
      let accepted;
      try {
        accepted = hs.validateServerResponse(res, offer);
      } catch (err) {
        expectTyped(err, RESPONSE_CODES);
        return { input, maxHeaderSize, offer, reached: err.code };
      }
      if (res.status !== 101) fail('accepted a status other than 101');
      if (accepted.protocol !== undefined && !offer.protocols.includes(accepted.protocol)) fail('accepted a protocol not offered');
      const names = accepted.extensions.map((e) => e.name);
      if (new Set(names).size !== names.length) fail('accepted an extension twice');
      if (accepted.deflate) {
        checkNegotiated(accepted.deflate, 'client');
        const c = clientOptions;
        if (c.serverMaxWindowBits !== undefined && accepted.deflate.serverMaxWindowBits > c.serverMaxWindowBits) fail('server window above our request');
        if (c.clientMaxWindowBits !== undefined && accepted.deflate.clientMaxWindowBits > c.clientMaxWindowBits) fail('client window above our offer');
        if (c.serverNoContextTakeover === true && !accepted.deflate.serverNoContextTakeover) fail('requested server_no_context_takeover missing');
      }
      return { input, maxHeaderSize, offer, reached: accepted.deflate ? 'accepted with deflate' : 'accepted' };
    },
  };
  const names = Object.keys(targets);

  // With --stats: how far inputs got, per target (a check that mutations do not only produce syntax errors).
  const outcomes = {};
  const reach = (target, how) => {
    const t = (outcomes[target] ??= {});
    t[how] = (t[how] ?? 0) + 1;
  };
  const once = (target, r) => {
    const t0 = performance.now();
    const detail = targets[target](r);
    return { detail, ms: performance.now() - t0 };
  };
  const run = (seed, iteration, slowMs) => {
    lastInput = undefined;
    const target = names[iteration % names.length];
    const fresh = () => new Rng(mix(seed, iteration));
    try {
      let { detail, ms } = once(target, fresh());
      reach(target, detail.reached ?? 'done');
      // Slow three times in a row, so a busy machine or a GC pause is not a finding.
      for (let tries = 1; tries < 3 && ms > slowMs; tries++) ms = Math.min(ms, once(target, fresh()).ms);
      if (ms > slowMs) {
        return { target, message: `slow: ${ms.toFixed(0)} ms for ${detail.input?.length ?? 0} bytes`, input: detail.input };
      }
    } catch (err) {
      const message = err instanceof Finding ? err.message : `unexpected ${err?.name}: ${err?.message}`;
      return { target, message, input: lastInput };
    }
    return undefined;
  };
  return { run, outcomes };
}
