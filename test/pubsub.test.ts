// Pub/sub on one thread: conn.subscribe/unsubscribe/isSubscribed/topics, publish() reaching exactly the
// subscribers (text, binary, empty, large, in order), the count it returns, subscriptions ending with the
// connection, several publishes of one tick arriving in one TCP read, and the bridge interface (setPublishBridge,
// publishLocal) with a small bridge object. ws clients are the peers.
import * as net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { Opcode, publish, publishLocal, setPublishBridge, subscriberCount, type PublishBridge } from '../src/index.js';
import type { Endpoint } from './helpers/endpoint.js';
import { startServer, type TestServer } from './helpers/server.js';
import { delay, waitFor } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';

let server: TestServer | undefined;
const clients: WsClient[] = [];

afterEach(async () => {
  setPublishBridge(null);
  for (const c of clients.splice(0)) c.ws.terminate();
  await server?.stop();
  server = undefined;
});

async function connectMany(n: number): Promise<Array<{ client: WsClient; ep: Endpoint }>> {
  server ??= await startServer({ onMsgRecv() {} });
  const out = [];
  for (let i = 0; i < n; i++) {
    const client = await wsConnect(server.port);
    clients.push(client);
    out.push({ client, ep: await server.nextEndpoint() });
  }
  return out;
}

let topicSeq = 0;
const freshTopic = () => `topic-${process.pid}-${++topicSeq}`;

describe('subscriptions', () => {
  it('subscribe, isSubscribed, topics, unsubscribe', async () => {
    const [{ ep }] = await connectMany(1);
    const a = freshTopic();
    const b = freshTopic();
    expect(ep.conn.subscribe(a)).toBe(true);
    expect(ep.conn.subscribe(a)).toBe(false);
    expect(ep.conn.subscribe(b)).toBe(true);
    expect(ep.conn.isSubscribed(a)).toBe(true);
    expect(ep.conn.topics).toEqual([a, b]);
    expect(subscriberCount(a)).toBe(1);
    expect(ep.conn.unsubscribe(a)).toBe(true);
    expect(ep.conn.unsubscribe(a)).toBe(false);
    expect(ep.conn.isSubscribed(a)).toBe(false);
    expect(ep.conn.topics).toEqual([b]);
    expect(subscriberCount(a)).toBe(0);
    expect(subscriberCount(b)).toBe(1);
  });

  it('rejects a topic that is not a string', async () => {
    const [{ ep }] = await connectMany(1);
    expect(() => ep.conn.subscribe(1 as unknown as string)).toThrow(TypeError);
    expect(() => publish(undefined as unknown as string, 'x')).toThrow(TypeError);
    expect(() => publish('t', 'x', Opcode.PING)).toThrow(RangeError);
    expect(() => publish('t', 42 as unknown as string)).toThrow(TypeError);
    expect(() => publish('t', 'x', Opcode.TEXT, { compress: 1 as unknown as boolean })).toThrow(TypeError);
  });

  it('ends with the connection: close, terminate', async () => {
    const [one, two] = await connectMany(2);
    const topic = freshTopic();
    one.ep.conn.subscribe(topic);
    two.ep.conn.subscribe(topic);
    expect(subscriberCount(topic)).toBe(2);
    one.ep.conn.close(1000);
    await one.ep.closed;
    expect(subscriberCount(topic)).toBe(1);
    expect(one.ep.conn.topics).toEqual([]);
    expect(one.ep.conn.subscribe(topic)).toBe(false); // ended: nothing to subscribe
    two.ep.conn.terminate();
    expect(subscriberCount(topic)).toBe(0);
    expect(publish(topic, 'nobody')).toBe(0);
  });

  it('ends when the peer goes away', async () => {
    const [one] = await connectMany(1);
    const topic = freshTopic();
    one.ep.conn.subscribe(topic);
    one.client.ws.terminate();
    const { info } = await one.ep.closed;
    expect(info.droppedMessages).toBe(0);
    expect(subscriberCount(topic)).toBe(0);
  });
});

describe('publish', () => {
  it('reaches exactly the subscribers and returns their count', async () => {
    const peers = await connectMany(4);
    const topic = freshTopic();
    peers[0].ep.conn.subscribe(topic);
    peers[2].ep.conn.subscribe(topic);
    peers[3].ep.conn.subscribe(freshTopic());
    expect(publish(topic, 'hello')).toBe(2);
    await waitFor(() => peers[0].client.messages.length === 1 && peers[2].client.messages.length === 1);
    await delay(50);
    expect(peers[1].client.messages).toEqual([]);
    expect(peers[3].client.messages).toEqual([]);
    expect(peers[0].client.messages[0]).toEqual({ data: Buffer.from('hello'), isBinary: false });
  });

  it('text, binary, empty and large payloads, in publish order', async () => {
    const [{ client, ep }] = await connectMany(1);
    const topic = freshTopic();
    ep.conn.subscribe(topic);
    const large = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < large.length; i++) large[i] = (i * 31) & 255;
    publish(topic, 'text é');
    publish(topic, Buffer.from([0, 1, 2, 255]), Opcode.BINARY);
    publish(topic, '');
    publish(topic, new Uint8Array(0), Opcode.BINARY);
    publish(topic, new Uint16Array([0x4241]).buffer, Opcode.BINARY);
    publish(topic, large, Opcode.BINARY); // last: more would be over the default backpressure limit (1 MiB)
    await waitFor(() => client.messages.length === 6, 10_000, 'six messages');
    const got = client.messages;
    expect(got[0]).toEqual({ data: Buffer.from('text é'), isBinary: false });
    expect(got[1]).toEqual({ data: Buffer.from([0, 1, 2, 255]), isBinary: true });
    expect(got[2]).toEqual({ data: Buffer.alloc(0), isBinary: false });
    expect(got[3]).toEqual({ data: Buffer.alloc(0), isBinary: true });
    expect(got[4].data).toEqual(Buffer.from([0x41, 0x42]));
    expect(got[5].isBinary).toBe(true);
    expect(got[5].data.equals(large)).toBe(true);
  });

  it('keeps the order of many publishes in one tick', async () => {
    const peers = await connectMany(3);
    const topic = freshTopic();
    for (const p of peers) p.ep.conn.subscribe(topic);
    for (let i = 0; i < 200; i++) expect(publish(topic, `m${i}`)).toBe(3);
    for (const p of peers) {
      await waitFor(() => p.client.messages.length === 200);
      expect(p.client.messages.map((m) => m.data.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `m${i}`));
    }
  });

  it('publishes of one tick reach a subscriber in one write', async () => {
    server = await startServer({ onMsgRecv() {} });
    // A raw peer that records each TCP read.
    const socket = net.connect(server.port, '127.0.0.1');
    const reads: Buffer[] = [];
    let upgraded = false;
    socket.on('data', (chunk) => {
      if (!upgraded) {
        upgraded = chunk.includes('\r\n\r\n');
        return;
      }
      reads.push(chunk);
    });
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const ep = await server.nextEndpoint();
    await waitFor(() => upgraded);
    const topic = freshTopic();
    ep.conn.subscribe(topic);
    for (let i = 0; i < 10; i++) publish(topic, `m${i}`);
    await waitFor(() => Buffer.concat(reads).length === 10 * 4);
    await delay(30);
    // Ten 4-byte frames (81 02 'm' digit), written together: one read.
    expect(reads.length).toBe(1);
    expect(reads[0].toString('latin1')).toBe(Array.from({ length: 10 }, (_, i) => `\x81\x02m${i}`).join(''));
    socket.destroy();
  });

  it('a subscriber that publishes from its own callback gets its message too', async () => {
    server = await startServer({
      onMsgRecv(_rsv, _op, msg) {
        publish('echo-room', msg);
      },
    });
    const a = await wsConnect(server.port);
    const b = await wsConnect(server.port);
    clients.push(a, b);
    (await server.nextEndpoint()).conn.subscribe('echo-room');
    (await server.nextEndpoint()).conn.subscribe('echo-room');
    a.ws.send('from a');
    await waitFor(() => a.messages.length === 1 && b.messages.length === 1);
    expect(b.messages[0].data.toString()).toBe('from a');
  });
});

describe('the publish bridge', () => {
  function recordingBridge() {
    const events: unknown[][] = [];
    const bridge: PublishBridge = {
      topicActive: (t) => events.push(['active', t]),
      topicIdle: (t) => events.push(['idle', t]),
      published: (t, data, opcode, compress) => events.push(['published', t, Buffer.from(data), opcode, compress]),
    };
    return { events, bridge };
  }

  it('is told of topics active when it is set, then of changes', async () => {
    const [one, two] = await connectMany(2);
    const early = freshTopic();
    const later = freshTopic();
    one.ep.conn.subscribe(early);
    const { events, bridge } = recordingBridge();
    setPublishBridge(bridge);
    expect(events).toEqual([['active', early]]);
    two.ep.conn.subscribe(early); // 1 → 2: nothing to tell
    two.ep.conn.subscribe(later);
    await waitFor(() => events.length === 2);
    expect(events[1]).toEqual(['active', later]);
    one.ep.conn.unsubscribe(early);
    two.ep.conn.terminate(); // its `early` and `later` end
    await waitFor(() => events.length === 4);
    expect(events.slice(2).sort()).toEqual([['idle', early], ['idle', later]].sort());
    await delay(30);
    expect(events.length).toBe(4);
  });

  it('publish() tells it after local delivery; publishLocal() does not', async () => {
    const [{ client, ep }] = await connectMany(1);
    const topic = freshTopic();
    ep.conn.subscribe(topic);
    const { events, bridge } = recordingBridge();
    setPublishBridge(bridge);
    events.length = 0;
    expect(publish(topic, Buffer.from([1, 2, 3]), Opcode.BINARY, { compress: false })).toBe(1);
    expect(events).toEqual([['published', topic, Buffer.from([1, 2, 3]), Opcode.BINARY, false]]);
    expect(publishLocal(topic, 'from the broker')).toBe(1);
    expect(publish('no-subscribers-here', 'x')).toBe(0); // still told: other processes may have subscribers
    expect(events.length).toBe(2);
    expect(events[1]).toEqual(['published', 'no-subscribers-here', Buffer.from('x'), Opcode.TEXT, true]);
    await waitFor(() => client.messages.length === 2);
    expect(client.messages.map((m) => m.data.toString('latin1'))).toEqual(['\x01\x02\x03', 'from the broker']);
  });

  it('null removes it', async () => {
    const [{ ep }] = await connectMany(1);
    const { events, bridge } = recordingBridge();
    setPublishBridge(bridge);
    setPublishBridge(null);
    ep.conn.subscribe(freshTopic());
    publish('x', 'y');
    await delay(30);
    expect(events).toEqual([]);
    expect(() => setPublishBridge({} as PublishBridge)).toThrow(TypeError);
  });
});
