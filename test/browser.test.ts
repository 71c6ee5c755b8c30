// Debian's chromium against the demo echo server (dist/examples/echo-server-helpers.js): the page it serves, driven
// through its controls, and page-side WebSockets with 1 MiB messages, with and without permessage-deflate.
// Screenshot: test/artifacts/browser.png.
import * as path from 'node:path';
import { describe } from 'vitest';

import { skipWithout } from './peers/availability.js';
import { defineBrowserTests } from './peers/browser-checks.js';
import { chromiumPeer } from './peers/chromium.js';
import { echoServerForSuite } from './peers/echo-server.js';

describe.skipIf(skipWithout(chromiumPeer))('chromium → echo server', () => {
  const server = echoServerForSuite(chromiumPeer);

  defineBrowserTests(
    () => ({ base: `http://127.0.0.1:${server().port}`, stopServer: () => server().stop() }),
    path.join(__dirname, 'artifacts', 'browser.png'),
  );
});
