// Bytes that arrive with the handshake: frames sent in the same TCP write as the upgrade request reach the server
// through the 'upgrade' event's `head`, frames sent with the 101 response reach our client, and bytes that arrive
// after 'upgrade' but before the connection is made are taken from the socket's buffer. All in order.
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode } from '../src/index.js';
import { connectClient } from './helpers/client.js';
import { echo, trackedConnection, type Endpoint } from './helpers/endpoint.js';
import { clientFrame, encodeFrame } from './helpers/frames.js';
import { rawClient, startRawServer, type RawPeer, type RawServer } from './helpers/raw-peer.js';
import { closeEndpoints, startServer, upgradeResponse, type TestServer } from './helpers/server.js';
import { delay, waitFor } from './helpers/wait.js';

const texts = (ep: Endpoint): string[] => ep.messages.map((m) => m.data.toString());

describe('server: frames in the same write as the upgrade request', () => {
  let server: TestServer;
  let peer: RawPeer | undefined;

  afterEach(async () => {
    peer?.destroy();
    await server?.stop();
  });

  it('arrive through head, are delivered in order, and later frames follow them', async () => {
    const heads: number[] = [];
    server = await startServer((_req, head) => (heads.push(head.length), echo()));
    const early = Buffer.concat([
      clientFrame(Opcode.TEXT, 'first'),
      clientFrame(Opcode.BINARY, Buffer.from([1, 2, 3])),
      clientFrame(Opcode.TEXT, 'third'),
    ]);
    peer = await rawClient(server.port, early);
    const ep = await server.nextEndpoint();
    expect(heads[0]).toBe(early.length); // really delivered as head, not read later from the socket
    peer.send(clientFrame(Opcode.TEXT, 'fourth'));
    await waitFor(() => ep.messages.length === 4);
    expect(ep.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT, Opcode.BINARY, Opcode.TEXT, Opcode.TEXT]);
    expect(texts(ep)).toEqual(['first', '\x01\x02\x03', 'third', 'fourth']);
    const echoed = await peer.waitFrames(4);
    expect(echoed.map((f) => f.payload.toString())).toEqual(['first', '\x01\x02\x03', 'third', 'fourth']);
  });

  it('a frame split between head and the socket is joined', async () => {
    server = await startServer(echo());
    const frame = clientFrame(Opcode.TEXT, 'x'.repeat(1000));
    peer = await rawClient(server.port, frame.subarray(0, 10));
    const ep = await server.nextEndpoint();
    await delay(20);
    expect(ep.messages.length).toBe(0);
    peer.send(frame.subarray(10));
    await waitFor(() => ep.messages.length === 1);
    expect(texts(ep)).toEqual(['x'.repeat(1000)]);
  });

  it('a close frame in head closes the connection', async () => {
    server = await startServer(echo());
    const bytes = Buffer.concat([
      clientFrame(Opcode.TEXT, 'bye soon'),
      encodeFrame({ opcode: Opcode.CLOSE, payload: Buffer.from([0x03, 0xe8]), mask: true }),
    ]);
    peer = await rawClient(server.port, bytes);
    const ep = await server.nextEndpoint();
    const closed = await ep.closed;
    expect(texts(ep)).toEqual(['bye soon']);
    expect(closed.code).toBe(1000);
  });

  it('bytes that arrive after the upgrade event, before the connection is made, are not lost', async () => {
    // An upgrade handler that answers at once but hands the socket over only after the client sent more frames.
    const http = await import('node:http');
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const made: Endpoint[] = [];
    const httpServer = http.createServer();
    httpServer.on('upgrade', async (req, socket, head) => {
      socket.write(upgradeResponse(String(req.headers['sec-websocket-key'])));
      await released;
      await delay(50); // let the late bytes reach the socket (Node's buffer or the kernel's)
      made.push(trackedConnection({ ...echo(), socket: socket as net.Socket, head }));
    });
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    try {
      const port = (httpServer.address() as net.AddressInfo).port;
      peer = await rawClient(port, clientFrame(Opcode.TEXT, 'in head'));
      peer.send(Buffer.concat([clientFrame(Opcode.TEXT, 'late 1'), clientFrame(Opcode.TEXT, 'late 2')]));
      release();
      await waitFor(() => made.length === 1 && made[0].messages.length === 3);
      expect(texts(made[0])).toEqual(['in head', 'late 1', 'late 2']);
      peer.send(clientFrame(Opcode.TEXT, 'after'));
      await waitFor(() => made[0].messages.length === 4);
      expect(texts(made[0])[3]).toBe('after');
    } finally {
      peer?.destroy(); // a raw peer never answers our close
      httpServer.close();
      await closeEndpoints(made);
    }
  });
});

describe('client: frames in the same write as the 101 response', () => {
  let raw: RawServer;
  let ep: Endpoint | undefined;

  afterEach(async () => {
    if (ep && ep.closes.length === 0) ep.conn.unref();
    await raw?.stop();
  });

  it('arrive through head and are delivered in order before later frames', async () => {
    raw = await startRawServer(() =>
      Buffer.concat([
        encodeFrame({ opcode: Opcode.TEXT, payload: 'welcome' }),
        encodeFrame({ opcode: Opcode.BINARY, payload: Buffer.from([9, 8]) }),
      ]),
    );
    ep = await connectClient(raw.port);
    const peer = await raw.nextPeer();
    peer.send(encodeFrame({ opcode: Opcode.TEXT, payload: 'later' }));
    await waitFor(() => ep!.messages.length === 3);
    expect(ep.messages.map((m) => m.opcode)).toEqual([Opcode.TEXT, Opcode.BINARY, Opcode.TEXT]);
    expect(texts(ep)).toEqual(['welcome', '\x09\x08', 'later']);
  });
});
