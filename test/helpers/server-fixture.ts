// Per-test plumbing for tests of our server: open() starts a TestServer, connects one client (a raw peer or a `ws`
// client) and returns the server-side Endpoint; an afterEach registered in the caller's scope destroys every client
// and stops every server opened during the test, also when the test failed halfway through open().
import { afterEach } from 'vitest';
import type WebSocket from 'ws';

import type { ConnectionOptions, Endpoint } from './endpoint.js';
import { rawClient, type RawPeer } from './raw-peer.js';
import { startServer, type TestServer } from './server.js';
import { wsConnect, type WsClient } from './ws-peer.js';

export interface Opened<Client> {
  server: TestServer;
  peer: Client;
  ep: Endpoint;
}

export interface ServerFixture<Client, ConnectOptions> {
  open(options?: ConnectionOptions, connect?: ConnectOptions): Promise<Opened<Client>>;
}

function serverFixture<Client, ConnectOptions>(
  connect: (port: number, options?: ConnectOptions) => Promise<Client>,
  destroy: (client: Client) => void,
): ServerFixture<Client, ConnectOptions> {
  const servers: TestServer[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    // Clients first: a raw peer never answers our close, so stop() would wait for it.
    for (const client of clients.splice(0)) destroy(client);
    for (const server of servers.splice(0)) await server.stop();
  });
  return {
    async open(options = {}, connectOptions) {
      const server = await startServer(options);
      servers.push(server);
      const peer = await connect(server.port, connectOptions);
      clients.push(peer);
      return { server, peer, ep: await server.nextEndpoint() };
    },
  };
}

/** `extra` goes out in the same write as the upgrade request; `read: false` leaves the peer's socket paused. */
export interface RawConnect {
  extra?: Buffer;
  read?: boolean;
}

/** A TestServer and a RawPeer per open(), cleaned up after each test. */
export function rawFixture(): ServerFixture<RawPeer, RawConnect> {
  return serverFixture<RawPeer, RawConnect>(
    (port, { extra, read }: RawConnect = {}) => rawClient(port, extra, { read }),
    (peer) => peer.destroy(),
  );
}

/** A TestServer and a `ws` client per open(), cleaned up after each test. */
export function wsFixture(): ServerFixture<WsClient, WebSocket.ClientOptions> {
  return serverFixture<WsClient, WebSocket.ClientOptions>(
    (port, options) => wsConnect(port, options),
    (client) => client.ws.terminate(),
  );
}
