// build.mjs: compiles the C load client and the C wslay echo server into bench/.bin/ when missing
// or older than their source, installing the Debian dev packages they need when we are root.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CFLAGS = ['-O2', '-Wall', '-Wextra'];

function isStale(binary, source) {
  return !existsSync(binary) || statSync(binary).mtimeMs < statSync(source).mtimeMs;
}

function compile(source, binary, extra) {
  execFileSync('cc', [...CFLAGS, '-o', binary, source, ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
}

/** Ensure a header exists: apt-get install the package when root, else report it. Returns true if present. */
function ensureHeader(header, aptPackage, notes) {
  if (existsSync(header)) return true;
  if (process.getuid?.() === 0) {
    try {
      console.log(`bench: ${header} missing, installing ${aptPackage} with apt-get`);
      execFileSync('apt-get', ['install', '-y', '--no-install-recommends', aptPackage], {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 300_000,
      });
    } catch (error) {
      notes.push(`apt-get install ${aptPackage} failed: ${error.message}`);
    }
  }
  return existsSync(header);
}

/**
 * Build what is missing or stale. Returns { client, cServer, clientHasDeflate, notes }; cServer is
 * null when libwslay-dev is not available.
 */
export function buildBenchPrograms(benchDir) {
  const binDir = join(benchDir, '.bin');
  mkdirSync(binDir, { recursive: true });
  const notes = [];

  const clientSource = join(benchDir, 'load-client.c');
  const client = join(binDir, 'load-client');
  const withoutZlib = join(binDir, 'load-client-nozlib');
  let clientHasDeflate = ensureHeader('/usr/include/zlib.h', 'zlib1g-dev', notes);
  if (clientHasDeflate) {
    if (isStale(client, clientSource)) compile(clientSource, client, ['-lz']);
  } else {
    console.log('bench: zlib1g-dev is not installed: the deflate scenario is skipped (apt-get install zlib1g-dev)');
    notes.push('zlib1g-dev missing: load client built without deflate, deflate scenario skipped');
    if (isStale(withoutZlib, clientSource)) compile(clientSource, withoutZlib, ['-DNO_ZLIB']);
  }

  const serverSource = join(benchDir, 'wslay-echo-server.c');
  let cServer = join(binDir, 'wslay-echo-server');
  if (ensureHeader('/usr/include/wslay/wslay.h', 'libwslay-dev', notes)) {
    if (isStale(cServer, serverSource)) compile(serverSource, cServer, ['-lwslay']);
  } else {
    console.log('bench: libwslay-dev is not installed: the C server is skipped (apt-get install libwslay-dev)');
    notes.push('libwslay-dev missing: C wslay server skipped');
    cServer = null;
  }
  return { client: clientHasDeflate ? client : withoutZlib, cServer, clientHasDeflate, notes };
}
