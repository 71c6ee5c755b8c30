// examples/chat.ts as `npm run example:chat` runs it (dist/examples/chat.js): `ws` clients in one room hear each
// other, once each, and nobody in another room does; "/join" moves a client; joins and leaves are announced.
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { waitFor } from './helpers/wait.js';
import { wsConnect, type WsClient } from './helpers/ws-peer.js';
import { repoRoot, startEchoServer, type EchoServer } from './peers/echo-server.js';

interface ChatLine {
  room: string;
  from: string;
  text: string;
}

let server: EchoServer;
const clients: WsClient[] = [];

beforeAll(async () => {
  server = await startEchoServer({ port: 0 }, [], path.join(repoRoot, 'dist', 'examples', 'chat.js'));
});
afterAll(async () => {
  for (const c of clients) c.ws.terminate();
  await server?.stop();
});

async function join(room: string, name: string): Promise<WsClient> {
  const client = await wsConnect(server.port!, {}, `/?room=${room}&name=${name}`);
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
