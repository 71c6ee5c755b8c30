// vitest globalSetup: outside CI, a run whose real peers (Chromium, nginx, python3-websockets, redis-server) are
// missing skips their tests; the run then ends with one line naming what was skipped and the command that installs it.
import { missingPeersLine } from './availability.js';
import { chromiumPeer } from './chromium.js';
import { nginxPeer } from './nginx.js';
import { pythonPeer } from './python.js';
import { redisPeer } from './redis.js';

export default function setup(): () => void {
  return () => {
    const line = process.env.CI ? undefined : missingPeersLine([chromiumPeer, nginxPeer, pythonPeer(), redisPeer]);
    if (line) console.log(line);
  };
}
