// examples/chat.ts as `npm run example:chat` runs it (dist/examples/chat.js): `ws` clients in one room hear each
// other, once each, and nobody in another room does; "/join" moves a client; joins and leaves are announced. With
// REDIS_URL, two chat processes share their rooms through a real redis-server. The README shows the file as it is.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { delay, waitFor } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';
import { skipWithout } from './peers/availability.js';
import { repoRoot, startEchoServer, type EchoServer } from './peers/echo-server.js';
import { RedisServer, redisPeer } from './peers/redis.js';

const CHAT = path.join(repoRoot, 'dist', 'examples', 'chat.js');

interface ChatLine {
  room: string;
  from: string;
  text: string;
}

let server: EchoServer;
const clients: WsClient[] = [];

beforeAll(async () => {
  server = await startEchoServer({ port: 0 }, [], CHAT);
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await server?.stop();
});

async function join(room: string, name: string, port = server.port!): Promise<WsClient> {
  const client = await wsConnect(port, {}, `/?room=${room}&name=${name}`);
  clients.push(client);
  await waitFor(() => said(client).some((l) => l.text.startsWith(`${name} joined`)), 5000, `${name}'s join`);
  return client;
}

const said = (client: WsClient): ChatLine[] => client.messages.map((m) => JSON.parse(m.data.toString()) as ChatLine);
const talk = (client: WsClient): string[] => said(client).filter((l) => l.from !== 'server').map((l) => `${l.from}: ${l.text}`);

it('chats between two clients in a room, and not across rooms', async () => {
  const ann = await join('kitchen', 'ann');
  const bob = await join('kitchen', 'bob');
  const eve = await join('garden', 'eve');
  await waitFor(() => said(ann).some((l) => l.text === 'bob joined (2 here)'), 5000, 'ann to see bob join');

  ann.ws.send('hello bob');
  bob.ws.send('hi ann ✓');
  eve.ws.send('anyone?');
  await waitFor(() => talk(ann).length === 2 && talk(bob).length === 2 && talk(eve).length === 1, 5000, 'the talk');
  // A marker through each room: whatever else was coming has arrived by then.
  bob.ws.send('marker');
  eve.ws.send('marker');
  await waitFor(() => talk(ann).length === 3 && talk(eve).length === 2, 5000, 'the markers');

  expect(talk(ann)).toEqual(['ann: hello bob', 'bob: hi ann ✓', 'bob: marker']);
  expect(talk(bob)).toEqual(['ann: hello bob', 'bob: hi ann ✓', 'bob: marker']);
  expect(talk(eve)).toEqual(['eve: anyone?', 'eve: marker']);
  expect(said(eve).every((l) => l.room === 'garden')).toBe(true);
});

it('moves a client with /join and announces who leaves', async () => {
  const [ann, bob, eve] = clients;
  bob.ws.send('/join garden');
  await waitFor(() => said(eve).some((l) => l.text === 'bob joined (2 here)'), 5000, 'bob in the garden');
  await waitFor(() => said(ann).some((l) => l.from === 'server' && l.text === 'bob left'), 5000, 'bob leaving');
  bob.ws.send('hello garden');
  await waitFor(() => talk(eve).includes('bob: hello garden'), 5000, 'bob heard in the garden');
  eve.ws.close();
  await waitFor(() => said(bob).some((l) => l.text === 'eve left'), 5000, 'eve leaving');
  ann.ws.send('still here?');
  await waitFor(() => talk(ann).includes('ann: still here?'), 5000, 'ann to hear herself');
  expect(talk(ann)).not.toContain('bob: hello garden');
  expect(talk(bob)).not.toContain('ann: still here?');
});

it('is shown whole in the README', () => {
  const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  expect(readme).toContain('```ts\n' + fs.readFileSync(path.join(repoRoot, 'examples', 'chat.ts'), 'utf8') + '```\n');
});

describe.skipIf(skipWithout(redisPeer))('with REDIS_URL', () => {
  let redis: RedisServer;
  const bridged: EchoServer[] = [];
  beforeAll(async () => {
    redis = await RedisServer.start();
    const env = { REDIS_URL: `redis://127.0.0.1:${redis.port}` };
    for (let i = 0; i < 2; i++) bridged.push(await startEchoServer({ port: 0 }, [], CHAT, env));
  });
  afterAll(async () => {
    for (const s of bridged) await s.stop();
    await redis?.stop();
  });

  it('two chat processes share a room through Redis', async () => {
    expect(bridged[0].output()).toContain('rooms bridged through redis://');
    const ann = await join('attic', 'ann', bridged[0].port);
    const bob = await join('attic', 'bob', bridged[1].port);
    // Both processes have subscribed the room's channel (asynchronously, after the joins) before anyone talks.
    const admin = new Redis(redis.port, '127.0.0.1');
    try {
      const deadline = Date.now() + 5000;
      while (Number(((await admin.pubsub('NUMSUB', 'wslay:room:attic')) as [string, number])[1]) !== 2) {
        if (Date.now() > deadline) throw new Error('the chat processes did not both subscribe');
        await delay(10);
      }
    } finally {
      admin.disconnect();
    }
    ann.ws.send('over here');
    await waitFor(() => talk(bob).includes('ann: over here'), 5000, 'bob to hear ann');
    bob.ws.send('and here');
    await waitFor(() => talk(ann).includes('bob: and here'), 5000, 'ann to hear bob');
    expect(talk(ann)).toEqual(['ann: over here', 'bob: and here']); // her own line once, not again from Redis
    expect(talk(bob)).toEqual(['ann: over here', 'bob: and here']);
  });
});
