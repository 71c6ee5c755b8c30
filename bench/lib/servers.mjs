// servers.mjs: the echo servers under test and how to start one fresh.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { readRss, startProcess, stopProcess, waitForLine } from './processes.mjs';

export const LISTENING = /^listening on https?:\/\/127\.0\.0\.1:(\d+)/;

/** --tls-cert/--tls-key for a server that takes them, from { cert, key } file paths (null: plain http). */
const tlsArgs = (tls) => (tls ? ['--tls-cert', tls.cert, '--tls-key', tls.key] : []);

/** The servers of the fan-out scenarios (bench/fanout-server.mjs --engine …), run by those scenarios only. */
export const FANOUT_SERVERS = ['fanout-publish', 'fanout-queuemsg', 'fanout-pool', 'fanout-ws', 'fanout-wslay-ws',
  'fanout-wslay-ws-publish'];

/**
 * Known servers. `deflate`: how the server is told to offer permessage-deflate, or null when it
 * cannot (it is then left out of the deflate scenario). `ours` negotiates by itself. `tls`: it serves
 * https/wss when command() is given a certificate (the wss scenario); the others are left out of it.
 * command(deflate, tls) returns [program, args].
 */
export function serverCatalog({ repoDir, benchDir, cServer, baseDir = null }) {
  // BENCH_OURS_SERVER: another script with the same CLI, e.g. a branch's build, to compare.
  const ours = process.env.BENCH_OURS_SERVER || join(repoDir, 'dist', 'examples', 'echo-server-helpers.js');
  const threaded = join(repoDir, 'dist', 'examples', 'echo-server-threads.js');
  // Upgrades on the main thread, serves on N worker threads; run only by the scenarios that name it.
  const oursThreads = (n) => ({
    label: `ours, ${n} worker thread${n > 1 ? 's' : ''}`,
    available: existsSync(threaded),
    missing: `${threaded} not built yet (npm run setup)`,
    command: () => [process.execPath, [threaded, '--port', '0', '--threads', String(n)]],
    deflate: 'self',
    scenarioOnly: true,
  });
  // --base DIR: the npm start server of another checkout (built there), e.g. the commit before a change.
  const baseServer = baseDir ? join(resolve(baseDir), 'dist', 'examples', 'echo-server-helpers.js') : null;
  return {
    base: {
      label: baseDir ? `ours at ${gitRevision(baseDir) ?? baseDir}` : 'ours at --base DIR',
      available: baseServer !== null && existsSync(baseServer),
      missing: baseServer ? `${baseServer} not built yet (npm ci && npm run setup in ${baseDir})` : 'no --base DIR given',
      command: (_deflate, tls) => [process.execPath, [baseServer, '--port', '0', ...tlsArgs(tls)]],
      deflate: 'self',
      tls: true,
      dir: baseDir ? resolve(baseDir) : null,
      revision: baseDir ? gitRevision(baseDir) : null,
    },
    // With a certificate: https.createServer, its connections on the stream transport through Node's TLSSocket.
    ours: {
      label: 'ours (wslay binding)',
      available: existsSync(ours),
      missing: `${ours} not built yet (npm run setup)`,
      command: (_deflate, tls) => [process.execPath, [ours, '--port', '0', ...tlsArgs(tls)]],
      deflate: 'self',
      tls: true,
    },
    // The same server with its connections forced onto the stream transport (through Node's net.Socket, as a TLS
    // socket would be): what the fd path is worth, and what a Duplex costs.
    'ours-stream': {
      label: 'ours, stream transport',
      available: existsSync(ours),
      missing: `${ours} not built yet (npm run setup)`,
      command: () => [process.execPath, [ours, '--port', '0', '--transport', 'stream']],
      deflate: 'self',
      scenarioOnly: true,
    },
    'ours-t1': oursThreads(1),
    'ours-t2': oursThreads(2),
    ws: {
      label: 'ws + bufferutil',
      available: true,
      command: (deflate, tls) => [process.execPath, [join(benchDir, 'ws-echo-server.mjs'), '--port', '0',
        ...(deflate ? ['--deflate'] : []), ...tlsArgs(tls)]],
      deflate: 'flag',
      tls: true,
    },
    // The ws echo server above with its import changed to wslay/ws: the facade's cost over `ours`.
    'ours-ws': {
      label: 'ours through wslay/ws (ws API)',
      available: existsSync(join(repoDir, 'dist', 'ws', 'index.mjs')),
      missing: 'dist/ws not built yet (npm run setup)',
      command: (deflate) => [process.execPath, [join(benchDir, 'ws-echo-server.mjs'), '--port', '0',
        '--module', 'wslay/ws', ...(deflate ? ['--deflate'] : [])]],
      deflate: 'flag',
      noTls: 'measured over plain TCP only',
    },
    ...fanoutServers(benchDir, repoDir),
    c: {
      label: 'C libwslay',
      available: cServer !== null,
      missing: 'libwslay-dev not installed',
      command: () => [cServer, ['--port', '0']],
      deflate: null,
      tls: false,
      noTls: 'the C wslay server has no TLS',
    },
  };
}

function fanoutServers(benchDir, repoDir) {
  const script = join(benchDir, 'fanout-server.mjs');
  const entry = (engine, label, built = join(repoDir, 'dist', 'index.js'), extra = []) => ({
    label,
    available: existsSync(built),
    missing: `${built} not built yet (npm run setup)`,
    command: () => [process.execPath, [script, '--engine', engine, '--port', '0', ...extra]],
    deflate: null,
    scenarioOnly: true,
  });
  return {
    'fanout-publish': entry('publish', 'ours, publish()'),
    'fanout-queuemsg': entry('queuemsg', 'ours, a queueMsg loop'),
    'fanout-pool': entry('pool', 'ours, publish() on 2 worker threads', undefined, ['--threads', '2']),
    'fanout-ws': { ...entry('ws', 'ws + bufferutil, a wss.clients loop'), available: true },
    'fanout-wslay-ws': entry('wslay-ws', 'wslay/ws, a wss.clients loop', join(repoDir, 'dist', 'ws', 'index.js')),
    'fanout-wslay-ws-publish': entry('wslay-ws-publish', 'wslay/ws, ws.subscribe + wss.publish',
      join(repoDir, 'dist', 'ws', 'index.js')),
  };
}

/**
 * Start a server and wait for its listening line; returns { proc, port, pid, rss() , stop() }. `tls`: the
 * { cert, key } files it serves https/wss with.
 */
export async function startServer(server, { deflate = false, tls = null, timeoutMs = 10_000 } = {}) {
  const [command, args] = server.command(deflate, tls);
  const proc = startProcess(command, args);
  try {
    const match = await waitForLine(proc, LISTENING, timeoutMs, server.label);
    return {
      proc,
      pid: proc.child.pid,
      port: Number(match[1]),
      rss: () => readRss(proc.child.pid),
      stop: () => stopProcess(proc),
    };
  } catch (error) {
    await stopProcess(proc);
    throw error;
  }
}

/** Short commit id of a checkout, or null when it is not a git tree. */
export function gitRevision(dir) {
  try {
    return execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}
