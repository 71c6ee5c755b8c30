// No poll churn: queueMsg from outside the connection's own event is written by the thread's per-iteration flush,
// not by arming the writable poll and disarming it on the next callback (two epoll_ctl per call, which made a
// fan-out loop cost 2 syscalls per recipient). Counted for real: a child server runs under
// `strace -f -c -e trace=epoll_ctl` and queues one message per loop iteration (setImmediate) to a raw peer that
// reads everything; the same child with no messages gives the baseline.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

import { addonPath, writeScript } from './helpers/child.js';
import { closePayload, encodeFrame } from './helpers/frames.js';
import { rawClient } from './helpers/raw-peer.js';
import { waitFor, within } from './helpers/wait.js';

const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

const SERVER = `
const http = require('node:http');
const { WebSocketConnection, acceptKey } = require('./index.js');
const messages = Number(process.argv[2]);
const TICKS = 1000;
const server = http.createServer();
server.on('upgrade', (req, socket, head) => {
  socket.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Accept: ' + acceptKey(String(req.headers['sec-websocket-key'])) + '\\r\\n\\r\\n');
  const conn = new WebSocketConnection({ socket, head, onClose() { server.close(); } });
  let tick = 0;
  const step = () => {
    if (tick === TICKS) return conn.close(1000);
    if (tick < messages) conn.queueMsg('message ' + tick);
    tick++;
    setImmediate(step);
  };
  setTimeout(step, 50);  // once the connection has settled: only the ticks are counted apart from the baseline
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

/** Runs the child server under strace with `messages` queueMsg calls (one per tick); returns its epoll_ctl count
 *  and the data frames the peer received. */
async function run(script: string, messages: number): Promise<{ epollCtl: number; frames: number }> {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wslay-strace-')), 'summary');
  const child = spawn('strace', ['-f', '-qq', '-c', '-e', 'trace=epoll_ctl', '-o', out, process.execPath, script, String(messages)], {
    env: { ...process.env, WSLAY_ADDON_PATH: addonPath },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await waitFor(() => stdout.includes('\n'), 15_000, 'the child server to listen');
  const peer = await rawClient(Number(stdout.trim()));
  const close = await peer.waitClose(20_000);
  expect(close).toBeDefined();
  peer.send(encodeFrame({ opcode: 8, payload: closePayload(1000), mask: true }));
  expect(await within(exited, 15_000, 'the child to exit')).toBe(0);
  peer.destroy();
  const summary = fs.readFileSync(out, 'utf8');
  const line = summary.split('\n').find((l) => /\sepoll_ctl\s*$/.test(l));
  // "% time seconds usecs/call calls [errors] syscall": the calls column is the fourth.
  const epollCtl = line ? Number(line.trim().split(/\s+/)[3]) : 0;
  return { epollCtl, frames: peer.frames.filter((f) => f.opcode === 1).length };
}

describe.skipIf(!hasStrace)('no poll churn', () => {
  it('1,000 queueMsg calls from outside an event, one per loop iteration, cost no epoll_ctl each', async () => {
    const script = await writeScript('poll-churn-server.js', SERVER);
    const baseline = await run(script, 0);
    const sending = await run(script, 1000);
    console.log(`epoll_ctl: baseline ${baseline.epollCtl}, with 1,000 messages ${sending.epollCtl}`);
    expect(baseline.frames).toBe(0);
    expect(sending.frames).toBe(1000);
    // Arming and disarming the writable poll per call was 2 epoll_ctl per message (over 2,000 here). Now the
    // flush writes each one at once; the poll is armed only after a write that the socket did not take.
    expect(sending.epollCtl - baseline.epollCtl).toBeLessThan(50);
  }, 60_000);
});
