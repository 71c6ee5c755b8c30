// The agreement permessage-deflate reaches when neither side asks for a parameter: RFC 7692's defaults (no context
// takeover off, 15-bit windows) plus our own level/memLevel/threshold defaults. Written out here rather than taken
// from src/, so a changed default fails the tests.
import type { NegotiatedDeflate } from '../../src/permessage-deflate.js';

export const NEGOTIATED_DEFAULTS: Readonly<NegotiatedDeflate> = {
  serverNoContextTakeover: false,
  clientNoContextTakeover: false,
  serverMaxWindowBits: 15,
  clientMaxWindowBits: 15,
  level: -1,
  memLevel: 8,
  threshold: 1024,
};
