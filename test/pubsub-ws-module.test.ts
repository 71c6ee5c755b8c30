// Pub/sub in the wslay/ws module: ws.subscribe(topic) on the server's sockets, wss.publish(topic, data) reaching
// them (and subscribers of the native API alike); a real ws client is the peer.
import type * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import RealWebSocket from 'ws';

import { subscriberCount } from '../src/index.js';
import WslayWs from '../src/ws/index.js';
import { waitFor } from './helpers/wait.js';

let wss: InstanceType<typeof WslayWs.WebSocketServer> | undefined;
afterEach(async () => {
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  wss = undefined;
});

describe('wslay/ws pub/sub', () => {
  it('ws.subscribe, wss.publish, unsubscribe, topics', async () => {
    const server = new WslayWs.WebSocketServer({ port: 0, host: '127.0.0.1' });
    wss = server;
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    const sockets: InstanceType<typeof WslayWs>[] = [];
    server.on('connection', (ws) => sockets.push(ws));
    const port = (server.address() as net.AddressInfo).port;
    const received: string[][] = [[], []];
    const peers = [new RealWebSocket(`ws://127.0.0.1:${port}`), new RealWebSocket(`ws://127.0.0.1:${port}`)];
    peers.forEach((p, i) => p.on('message', (data) => received[i].push(String(data))));
    await waitFor(() => sockets.length === 2);
    expect(sockets[0].subscribe('news')).toBe(true);
    expect(sockets[1].subscribe('news')).toBe(true);
    expect(sockets[0].topics).toEqual(['news']);
    expect(subscriberCount('news')).toBe(2);
    expect(server.publish('news', 'one')).toBe(2);
    await waitFor(() => received[0].length === 1 && received[1].length === 1);
    expect(sockets[1].unsubscribe('news')).toBe(true);
    expect(sockets[1].isSubscribed('news')).toBe(false);
    expect(server.publish('news', 'two')).toBe(1);
    await waitFor(() => received[0].length === 2);
    expect(received).toEqual([['one', 'two'], ['one']]);
    for (const p of peers) p.terminate();
  });
});
