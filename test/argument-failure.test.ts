// A callback argument that cannot be made (no memory for a message's ArrayBuffer, say) fails that connection: 1009
// when it was the message's buffer, 1011 for any other argument. It used to be taken for the environment shutting
// down, which mutes the connection for good (no onClose, no close frame). The failure is injected with the addon's
// test hook (_injectArgumentFailures); real sockets and a raw peer on the other side.
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { native } from '../src/native.js';
import { echo } from './helpers/endpoint.js';
import { clientFrame } from './helpers/frames.js';
import { rawClient, type RawPeer } from './helpers/raw-peer.js';
import { startServer, type TestServer } from './helpers/server.js';
import { waitFor, within } from './helpers/wait.js';

let server: TestServer | undefined;
const peers: RawPeer[] = [];

afterEach(async () => {
  native._injectArgumentFailures(0);
  for (const p of peers.splice(0)) p.destroy();
  await server?.stop();
  server = undefined;
});

async function peer(port: number): Promise<RawPeer> {
  const p = await rawClient(port);
  peers.push(p);
  return p;
}

/** Sends `text` and waits for its echo. */
async function roundTrip(p: RawPeer, text: string): Promise<void> {
  const before = p.frames.length;
  p.send(clientFrame(Opcode.TEXT, text));
  await waitFor(() => p.frames.length > before, 5000, `the echo of ${text}`);
  expect(p.frames[before]!.payload.toString()).toBe(text);
}

describe('a callback argument that cannot be made', () => {
  it("for a message's buffer: the connection fails with 1009, onClose fires, the thread carries on", async () => {
    server = await startServer(echo());
    const p = await peer(server.port);
    await roundTrip(p, 'one');
    const ep = server.endpoints[0]!;

    native._injectArgumentFailures(1);
    p.send(clientFrame(Opcode.TEXT, 'two'));
    const close = await p.waitClose();
    expect(close?.payload.readUInt16BE(0)).toBe(1009);
    const closed = await within(ep.closed, 5000, 'the server onClose');
    expect(closed.code).toBe(1009);
    expect(closed.info.sentCode).toBe(1009);
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['one']);
    await p.waitEnd();
    expect(ep.closes.length).toBe(1);

    // Nothing stays muted: a new connection on the same thread works.
    await roundTrip(await peer(server.port), 'three');
  });

  it('for another callback (onFrameRecvStart): the connection fails with 1011', async () => {
    const starts: number[] = [];
    server = await startServer(echo({ onFrameRecvStart: (_fin, _rsv, opcode) => void starts.push(opcode) }));
    const p = await peer(server.port);
    await roundTrip(p, 'one');
    const ep = server.endpoints[0]!;

    native._injectArgumentFailures(1);
    p.send(clientFrame(Opcode.TEXT, 'two'));
    const close = await p.waitClose();
    expect(close?.payload.readUInt16BE(0)).toBe(1011);
    expect((await within(ep.closed, 5000, 'the server onClose')).code).toBe(1011);
    expect(starts).toEqual([Opcode.TEXT]);
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['one']);
  });
});
