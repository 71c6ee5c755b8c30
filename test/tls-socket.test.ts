// A TLS socket cannot be handed over: wslay would write to the TCP fd under the encryption. handleUpgrade,
// WebSocketServer, upgradeForHandoff, detachSocket and the connection refuse it before a byte is written (the
// helpers destroy the socket), so a client never gets a 101 that leads nowhere. A real https server, with a
// certificate made now by the openssl CLI, and a real TLS client.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as https from 'node:https';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { detachSocket, handleUpgrade, upgradeForHandoff, WebSocketConnection, WebSocketServer } from '../src/index.js';
import { within } from './helpers/wait.js';

let certDir: string;
let credentials: { key: Buffer; cert: Buffer };
let server: https.Server | undefined;

beforeAll(() => {
  certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-tls-'));
  const key = path.join(certDir, 'key.pem');
  const cert = path.join(certDir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost'], { stdio: 'ignore' });
  credentials = { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
});

afterAll(() => fs.rmSync(certDir, { recursive: true, force: true }));

afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function startHttps(onUpgrade?: (req: https.IncomingMessage, socket: net.Socket, head: Buffer) => void): Promise<number> {
  server = https.createServer(credentials);
  if (onUpgrade) server.on('upgrade', onUpgrade);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A TLS client that sends an upgrade request and records what comes back until the connection ends. */
function tlsUpgradeClient(port: number): { received: () => string; ended: Promise<void> } {
  let received = '';
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }, () =>
    socket.write(
      'GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    ),
  );
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  socket.on('error', () => {});
  const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { received: () => received, ended: within(ended, 5000, 'the TLS connection to end') };
}

describe('a TLS socket', () => {
  it('handleUpgrade throws a TypeError before writing anything and destroys the socket', async () => {
    const errors: unknown[] = [];
    const port = await startHttps((req, socket, head) => {
      try {
        handleUpgrade(req, socket, head);
      } catch (err) {
        errors.push(err);
      }
    });
    const client = tlsUpgradeClient(port);
    await client.ended;
    expect(client.received()).toBe('');
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
    expect(String(errors[0])).toMatch(/TLS socket cannot be handed over/);
  });

  it("WebSocketServer emits 'error' and the client gets no 101", async () => {
    const port = await startHttps();
    const wss = new WebSocketServer({ server: server as unknown as import('node:http').Server });
    const errors: unknown[] = [];
    wss.on('error', (err) => errors.push(err));
    const client = tlsUpgradeClient(port);
    await client.ended;
    expect(client.received()).toBe('');
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
    wss.close();
  });

  it('upgradeForHandoff rejects before writing anything', async () => {
    const outcomes: Array<Promise<unknown>> = [];
    const port = await startHttps((req, socket, head) =>
      outcomes.push(upgradeForHandoff(req, socket, head).then(() => 'resolved', (err: unknown) => err)),
    );
    const client = tlsUpgradeClient(port);
    await client.ended;
    expect(client.received()).toBe('');
    expect(await outcomes[0]).toBeInstanceOf(TypeError);
  });

  it('new WebSocketConnection({ socket }) and detachSocket refuse it too (its fd is the TCP one under TLS)', async () => {
    const outcomes: unknown[] = [];
    const port = await startHttps((_req, socket) => {
      try {
        new WebSocketConnection({ socket });
        outcomes.push('constructed');
      } catch (err) {
        outcomes.push(err);
      }
      detachSocket(socket, undefined).then(
        () => outcomes.push('detached'),
        (err: unknown) => {
          outcomes.push(err);
          socket.destroy();
        },
      );
    });
    const client = tlsUpgradeClient(port);
    await client.ended;
    expect(client.received()).toBe('');
    expect(outcomes.length).toBe(2);
    for (const o of outcomes) {
      expect(o).toBeInstanceOf(TypeError);
      expect(String(o)).toMatch(/TLS socket cannot be handed over/);
    }
  });
});
