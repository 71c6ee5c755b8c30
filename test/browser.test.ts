// Debian's chromium against the demo echo server (dist/examples/echo-server-helpers.js): the page it serves, driven
// through its controls, and page-side WebSockets with 1 MiB messages, with and without permessage-deflate; then the
// same over https and wss (npm start --tls-cert … --tls-key …, a throwaway CA, --ignore-certificate-errors).
// Screenshots: test/artifacts/browser.png, browser-https.png.
import * as path from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';

import { skipWithout } from './peers/availability.js';
import { defineBrowserTests } from './peers/browser-checks.js';
import { chromiumPeer } from './peers/chromium.js';
import { echoServerForSuite, startEchoServer, type EchoServer } from './peers/echo-server.js';
import { makeTestCertificates, type TestCertificates } from './helpers/tls-cert.js';

describe.skipIf(skipWithout(chromiumPeer))('chromium → echo server', () => {
  const server = echoServerForSuite(chromiumPeer);

  defineBrowserTests(
    () => ({ base: `http://127.0.0.1:${server().port}`, stopServer: () => server().stop() }),
    path.join(__dirname, 'artifacts', 'browser.png'),
  );
});

describe.skipIf(skipWithout(chromiumPeer))('chromium → echo server over https and wss', () => {
  let certs: TestCertificates | undefined;
  let server: EchoServer | undefined;
  beforeAll(async () => {
    certs = makeTestCertificates();
    server = await startEchoServer({ port: 0 }, ['--tls-cert', certs.certFile, '--tls-key', certs.keyFile]);
  });
  afterAll(async () => {
    await server?.stop();
    certs?.remove();
  });

  defineBrowserTests(
    () => ({ base: `https://127.0.0.1:${server!.port}`, stopServer: () => server!.stop() }),
    path.join(__dirname, 'artifacts', 'browser-https.png'),
    ['--ignore-certificate-errors'],
  );
});
