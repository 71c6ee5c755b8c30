// A buffer that cannot grow (std::bad_alloc, or realloc failing) fails its connection instead of aborting the
// process or unwinding through wslay's C frames: 1009 for a message being assembled or inflated, 1011 for any
// other receive-side buffer. The failure is injected with a test-only native hook; other connections carry on.
import { afterEach, describe, expect, it } from 'vitest';

import { getReceiveBudget, Opcode } from '../src/index.js';
import { native } from '../src/native.js';
import { echo } from './helpers/endpoint.js';
import { closeCode, encodeFrame } from './helpers/frames.js';
import { rawFixture, wsFixture } from './helpers/server-fixture.js';
import { waitFor, within } from './helpers/wait.js';
import { DEFAULT_DEFLATE, deflatedFrames } from './hostile/crafted.js';

const raw = rawFixture();
const ws = wsFixture();

afterEach(() => native._testFailGrowth('message', 0)); // disarmed

async function stillServes() {
  const { ep, peer: client } = await ws.open(echo());
  client.ws.send('still here');
  await waitFor(() => ep.messages.length === 1, 3000, 'a message on a new connection');
  expect(ep.messages[0].data.toString()).toBe('still here');
}

describe('out of memory while a buffer grows', () => {
  it('assembling a fragmented message: 1009 to the peer and onClose; the process and other connections go on', async () => {
    const { ep, peer } = await raw.open(echo());
    native._testFailGrowth('message', 1);
    peer.send(encodeFrame({ opcode: Opcode.BINARY, payload: Buffer.alloc(5000, 1), fin: false, mask: true }));
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1009);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1009);
    expect(getReceiveBudget().used).toBe(0);
    await stillServes();
  });

  it('inflating a compressed message: 1009', async () => {
    const { ep, peer } = await raw.open(echo({ perMessageDeflate: DEFAULT_DEFLATE }));
    native._testFailGrowth('message', 1);
    const [payload] = await deflatedFrames([Buffer.from('compressed text '.repeat(100))]);
    peer.send(encodeFrame({ opcode: Opcode.TEXT, rsv: 4, payload, mask: true }));
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1009);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1009);
    await stillServes();
  });

  it('holding a message while reading is paused (a std::bad_alloc inside a wslay callback): 1011', async () => {
    const { ep, peer } = await raw.open(
      echo({
        onMsgRecv() {
          this.stopRead();
        },
      }),
    );
    native._testFailGrowth('other', 1);
    // Two messages in one write: the second is parsed while paused and must be held.
    peer.send(Buffer.concat([
      encodeFrame({ opcode: Opcode.TEXT, payload: 'one', mask: true }),
      encodeFrame({ opcode: Opcode.TEXT, payload: 'two', mask: true }),
    ]));
    const frame = await peer.waitClose(3000);
    expect(frame && closeCode(frame)).toBe(1011);
    expect((await within(ep.closed, 3000, 'onClose')).code).toBe(1011);
    expect(ep.messages.map((m) => m.data.toString())).toEqual(['one']);
    await stillServes();
  });
});
