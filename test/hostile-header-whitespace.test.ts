// A malicious server's 101 response with a huge header value made of whitespace runs: the client's header parsing
// is linear in the value (a quadratic trim took 1.5–5 s of blocked event loop for 64 KiB, and would take minutes
// for 1 MiB). The parse is checked for the exact value; the real-socket case runs our client in a child process,
// so a parse that does not finish fails the test (the child is killed at its deadline) instead of hanging it.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { parseServerResponse, type ParsedServerResponse } from '../src/handshake.js';
import { lastJson, runNode, writeScript } from './helpers/child.js';
import { upgradeResponse } from './helpers/server.js';

/** `size` bytes: 'a', then alternating spaces and tabs, then 'b', wrapped in more whitespace on both sides. */
function whitespaceValue(size: number): { raw: string; trimmed: string } {
  const inner = 'a' + ' \t'.repeat(size / 2) + 'b';
  return { raw: ' \t '.repeat(100) + inner + '\t \t'.repeat(100), trimmed: inner };
}

let server: net.Server | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

describe('a header value of 64 KiB of whitespace runs', () => {
  it('is parsed, trimmed exactly', () => {
    const { raw, trimmed } = whitespaceValue(64 * 1024);
    const head = Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nX-Padding:${raw}\r\nX-After:  ok \r\n\r\n`, 'latin1');
    const parsed = parseServerResponse(head, 1 << 20) as ParsedServerResponse;
    expect(parsed.headers['x-padding']).toBe(trimmed);
    expect(parsed.headers['x-after']).toBe('ok');
    expect(parsed.bodyOffset).toBe(head.length);
  });
});

describe('a server whose 101 carries a 1 MiB header value of whitespace runs', () => {
  it('our client still opens the connection', async () => {
    const { raw } = whitespaceValue(1 << 20);
    const sockets: net.Socket[] = [];
    server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        if (!received.includes('\r\n\r\n')) return;
        const key = /^sec-websocket-key:\s*(\S+)/im.exec(received)?.[1] ?? '';
        socket.write(`${upgradeResponse(key).slice(0, -2)}X-Padding:${raw}\r\n\r\n`, 'latin1');
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const script = await writeScript(
      'header-whitespace-client.js',
      `const { connect } = require('./index.js');
      connect('ws://127.0.0.1:${port}/', { maxHeaderSize: 4 << 20 }).then((conn) => {
        console.log(JSON.stringify({ state: conn.readyState }));
        conn.onClose = () => process.exit(0);
        conn.close(1000);
        setTimeout(() => process.exit(0), 500).unref();
      }, (err) => { console.log(JSON.stringify({ error: String(err) })); process.exit(1); });`,
    );
    const res = await runNode(script, { timeout: 20_000 }).result;
    for (const s of sockets) s.destroy();
    expect(lastJson<{ state?: string; error?: string }>(res)).toEqual({ state: 'open' });
  });
});
