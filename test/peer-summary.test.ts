// The line a run ends with when real peers are missing (test/peers/summary.ts, vitest's globalSetup): one line,
// naming what was skipped and the one command that installs all of it; nothing when every peer is there.
import { describe, expect, it } from 'vitest';

import { missingPeersLine, type Peer } from './peers/availability.js';
import { chromiumPeer } from './peers/chromium.js';
import { nginxPeer } from './peers/nginx.js';
import { pythonPeer } from './peers/python.js';
import config from '../vitest.config.mjs';

describe('missing peers', () => {
  const missing = (p: Peer): Peer => ({ ...p, present: false });

  it('one line naming every missing peer and one apt-get command for all of them', () => {
    const line = missingPeersLine([missing(chromiumPeer), nginxPeer, missing(pythonPeer())]);
    expect(line).toBeDefined();
    expect(line!.split('\n')).toHaveLength(1);
    expect(line).toContain(chromiumPeer.what);
    expect(line).toContain('python3-websockets');
    expect(line).not.toContain(nginxPeer.what);
    expect(line).toMatch(/sudo apt-get install chromium python3-websockets$/);
  });

  it('nothing when every peer is present', () => {
    expect(missingPeersLine([{ ...chromiumPeer, present: true }, { ...nginxPeer, present: true }])).toBeUndefined();
  });

  it('the test run prints it at the end (globalSetup)', () => {
    expect(config.test?.globalSetup).toContain('test/peers/summary.ts');
  });
});
