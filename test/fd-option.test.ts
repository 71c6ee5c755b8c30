// The `fd` option: the connection takes a raw socket fd, makes it non-blocking, owns it and closes it exactly
// once; anything that is not an open stream socket is a TypeError. A raw fd that Node does not own comes from a
// child process: its fd 3 is one end of a socketpair whose other end the test speaks frames on.
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { describe, expect, it } from 'vitest';

import { Opcode, WebSocketConnection } from '../src/index.js';
import { lastJson, runNode, writeScript } from './helpers/child.js';
import { openFds } from './helpers/fds.js';
import { clientFrame, closeCode, closePayload, encodeFrame } from './helpers/frames.js';
import { RawPeer } from './helpers/raw-peer.js';

const CHILD = `
const fs = require('node:fs');
const { WebSocketConnection } = require('./index.js');
const nonBlocking = (fd) => (parseInt(/^flags:\\s*([0-7]+)/m.exec(fs.readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))[1], 8) & 0o4000) !== 0;
const out = { blockingBefore: !nonBlocking(3) };
let closes = 0;
new WebSocketConnection({
  fd: 3,
  onMsgRecv(rsv, opcode, msg) {
    if (opcode === 1) this.queueMsg(msg, opcode);
  },
  onClose(code, info) {
    closes++;
    out.code = code;
    out.fd3OpenInOnClose = fs.existsSync('/proc/self/fd/3');
    // The lowest free number is 3 again: a second close() of 3 by the binding would close this file.
    const reused = fs.openSync(__filename, 'r');
    out.reusedFd = reused;
    setTimeout(() => {
      if (global.gc) global.gc();
      setTimeout(() => {
        let stillOpen = true;
        try { fs.fstatSync(reused); } catch { stillOpen = false; }
        out.reusedStillOpen = stillOpen;
        out.reusedTarget = stillOpen ? fs.readlinkSync('/proc/self/fd/' + reused) : null;
        out.closes = closes;
        fs.closeSync(reused);
        console.log(JSON.stringify(out));
      }, 100);
    }, 50);
  },
});
out.nonBlockingAfter = nonBlocking(3);
`;

interface ChildReport {
  blockingBefore: boolean;
  nonBlockingAfter: boolean;
  code: number;
  fd3OpenInOnClose: boolean;
  reusedFd: number;
  reusedStillOpen: boolean;
  reusedTarget: string | null;
  closes: number;
}

describe('fd option', () => {
  it('takes a blocking socket fd, makes it non-blocking, serves it, and closes it exactly once', async () => {
    const script = await writeScript('fd-owner.js', CHILD);
    const { child, result } = runNode(script, { nodeArgs: ['--expose-gc'], stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const peer = new RawPeer(child.stdio[3] as net.Socket);
    peer.send(clientFrame(Opcode.TEXT, 'over a raw fd'));
    const [echoed] = await peer.waitFrames(1);
    expect(echoed.payload.toString()).toBe('over a raw fd');
    expect(echoed.masked).toBe(false); // a server's frame
    peer.send(encodeFrame({ opcode: Opcode.CLOSE, payload: closePayload(1000), mask: true }));
    const close = await peer.waitClose();
    expect(close && closeCode(close)).toBe(1000);
    await peer.waitEnd(); // the child closed its end
    const res = await result;
    expect(res.code, res.stderr).toBe(0); // and exited on its own: no handle left behind
    const report = lastJson<ChildReport>(res);
    expect(report.blockingBefore).toBe(true); // precondition: the binding had something to change
    expect(report.nonBlockingAfter).toBe(true);
    expect(report.code).toBe(1000);
    expect(report.fd3OpenInOnClose).toBe(false); // closed before onClose
    expect(report.reusedFd).toBe(3);
    expect(report.reusedStillOpen).toBe(true); // not closed a second time
    expect(report.reusedTarget).toMatch(/fd-owner\.js$/);
    expect(report.closes).toBe(1);
  });

  it('rejects a regular file fd with a TypeError and leaves it open', () => {
    const fd = fs.openSync(__filename, 'r');
    try {
      expect(() => new WebSocketConnection({ fd })).toThrow(TypeError);
      expect(() => new WebSocketConnection({ fd })).toThrow(/not a socket/);
      expect(openFds()).toContain(fd);
      expect(fs.fstatSync(fd).isFile()).toBe(true);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('rejects /dev/null with a TypeError', () => {
    const fd = fs.openSync('/dev/null', 'r');
    try {
      expect(() => new WebSocketConnection({ fd })).toThrow(TypeError);
    } finally {
      fs.closeSync(fd);
    }
  });

  it('rejects a datagram socket with a TypeError', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    try {
      const fd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
      expect(fd).toBeGreaterThan(2);
      expect(() => new WebSocketConnection({ fd })).toThrow(TypeError);
      expect(() => new WebSocketConnection({ fd })).toThrow(/stream/);
    } finally {
      sock.close();
    }
  });

  it('rejects fds that are not open, negative, fractional or not numbers with a TypeError', () => {
    const unused = Math.max(...openFds()) + 100;
    for (const fd of [unused, -1, 1.5, Number.NaN, '3', null]) {
      expect(() => new WebSocketConnection({ fd: fd as number }), `fd ${String(fd)}`).toThrow(TypeError);
    }
  });

  it('rejects both fd and socket, and neither, with a TypeError', () => {
    expect(() => new WebSocketConnection({})).toThrow(TypeError);
    expect(() => new WebSocketConnection({ fd: 0, socket: {} as net.Socket })).toThrow(TypeError);
  });
});
