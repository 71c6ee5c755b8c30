// The CommonJS entry's exports object keeps V8's fast properties: with re-exports compiled to accessors it became
// a hash table, and each `wslay.Opcode.TEXT` in a CommonJS message handler was a dictionary lookup per message.
// Checked in a child with --allow-natives-syntax (%HasFastProperties), against the library transpiled to CommonJS.
import { describe, expect, it } from 'vitest';

import { lastJson, runNode, writeScript } from './helpers/child.js';

describe('the CommonJS exports object', () => {
  it('has fast properties, all of them plain values (no accessors), Opcode a frozen plain object', async () => {
    const script = await writeScript(
      'fast-exports.js',
      `const wslay = require('./index.js');
       const accessors = Object.entries(Object.getOwnPropertyDescriptors(wslay))
         .filter(([, d]) => d.get !== undefined).map(([name]) => name);
       console.log(JSON.stringify({
         fast: %HasFastProperties(wslay),
         accessors,
         opcodeFast: %HasFastProperties(wslay.Opcode),
         opcodeFrozen: Object.isFrozen(wslay.Opcode),
         text: wslay.Opcode.TEXT,
         classes: [typeof wslay.WebSocketConnection, typeof wslay.WebSocketServer, typeof wslay.HandshakeError],
       }));`,
    );
    const out = lastJson<{
      fast: boolean;
      accessors: string[];
      opcodeFast: boolean;
      opcodeFrozen: boolean;
      text: number;
      classes: string[];
    }>(await runNode(script, { nodeArgs: ['--allow-natives-syntax'] }).result);
    expect(out.accessors).toEqual([]);
    expect(out.fast).toBe(true);
    expect(out.opcodeFast).toBe(true);
    expect(out.opcodeFrozen).toBe(true);
    expect(out.text).toBe(1);
    expect(out.classes).toEqual(['function', 'function', 'function']);
  });
});
