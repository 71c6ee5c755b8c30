// build.mjs: compiles the C load client and the C wslay echo server into bench/.bin/ when missing
// or older than their source, installing the Debian dev packages they need when we are root; makes the
// wss scenario's certificate.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
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
 * Build what is missing or stale. Returns { client, cServer, clientHasDeflate, clientHasTls, notes }; cServer
 * is null when libwslay-dev is not available. The client's name says what it was built without
 * (load-client-nozlib, load-client-notls), so installing a package later builds the full one.
 */
export function buildBenchPrograms(benchDir) {
  const binDir = join(benchDir, '.bin');
  mkdirSync(binDir, { recursive: true });
  const notes = [];

  const clientSource = join(benchDir, 'load-client.c');
  const clientHasDeflate = ensureHeader('/usr/include/zlib.h', 'zlib1g-dev', notes);
  if (!clientHasDeflate) {
    console.log('bench: zlib1g-dev is not installed: the deflate scenario is skipped (apt-get install zlib1g-dev)');
    notes.push('zlib1g-dev missing: load client built without deflate, deflate scenario skipped');
  }
  const clientHasTls = ensureHeader('/usr/include/openssl/ssl.h', 'libssl-dev', notes);
  if (!clientHasTls) {
    console.log('bench: libssl-dev is not installed: the wss scenario is skipped (apt-get install libssl-dev)');
    notes.push('libssl-dev missing: load client built without TLS, wss scenario skipped');
  }
  const client = join(binDir, `load-client${clientHasDeflate ? '' : '-nozlib'}${clientHasTls ? '' : '-notls'}`);
  if (isStale(client, clientSource)) {
    compile(clientSource, client, [...(clientHasDeflate ? ['-lz'] : ['-DNO_ZLIB']),
      ...(clientHasTls ? ['-DWITH_TLS', '-lssl', '-lcrypto'] : [])]);
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
  return { client, cServer, clientHasDeflate, clientHasTls, notes };
}

/**
 * The wss scenario's certificate: a self-signed EC P-256 one for localhost / 127.0.0.1, made by the openssl CLI
 * into bench/.bin/ once per bench run (every server under test serves the same one). Returns { cert, key }.
 */
export function makeBenchCertificate(benchDir) {
  const binDir = join(benchDir, '.bin');
  mkdirSync(binDir, { recursive: true });
  const cert = join(binDir, 'wss-cert.pem');
  const key = join(binDir, 'wss-key.pem');
  rmSync(cert, { force: true });
  rmSync(key, { force: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}
