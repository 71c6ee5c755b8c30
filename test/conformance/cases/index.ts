// Every section, in Autobahn order.
import type { Section } from '../case-types.js';
import { autoFragmentation } from './auto-fragmentation.js';
import { closeHandling } from './close.js';
import { deflate } from './deflate.js';
import { fragmentation } from './fragmentation.js';
import { framing } from './framing.js';
import { limits } from './limits.js';
import { opcodes } from './opcodes.js';
import { pingPong } from './ping-pong.js';
import { reservedBits } from './reserved-bits.js';
import { utf8 } from './utf8.js';

export const SECTIONS: Section[] = [
  framing,
  pingPong,
  reservedBits,
  opcodes,
  fragmentation,
  utf8,
  closeHandling,
  limits,
  autoFragmentation,
  deflate,
];
