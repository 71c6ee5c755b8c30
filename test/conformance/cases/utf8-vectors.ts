// UTF-8 decoder test vectors after Markus Kuhn's UTF-8-test.txt (sections 1–5),
// the set Autobahn's section 6 is built from, plus a few boundary extras.
// Each is written as hex so the bytes are explicit.

export interface Utf8Vector {
  name: string;
  hex: string;
  valid: boolean;
}

const v = (name: string, hex: string, valid: boolean): Utf8Vector => ({ name, hex, valid });
const range = (from: number, to: number, after = ''): string =>
  Array.from({ length: to - from + 1 }, (_, i) => (from + i).toString(16).padStart(2, '0') + after).join('');

const KOSME = 'cebae1bdb9cf83cebcceb5';

export const UTF8_VECTORS: Utf8Vector[] = [
  // 1. Some correct UTF-8 text
  v('κόσμε', KOSME, true),
  v('Hello-µ@ßöäüàá-UTF-8!!', '48656c6c6f2dc2b540c39fc3b6c3a4c3bcc3a0c3a12d5554462d382121', true),
  v('κόσμε followed by a surrogate and "edited"', `${KOSME}eda080656469746564`, false),
  // 2.1 First possible sequence of a certain length
  v('U+0000', '00', true),
  v('U+0080', 'c280', true),
  v('U+0800', 'e0a080', true),
  v('U+10000', 'f0908080', true),
  v('5-byte U+200000', 'f888808080', false),
  v('6-byte U+4000000', 'fc8480808080', false),
  // 2.2 Last possible sequence of a certain length
  v('U+007F', '7f', true),
  v('U+07FF', 'dfbf', true),
  v('U+FFFF', 'efbfbf', true),
  v('4-byte U+1FFFFF', 'f7bfbfbf', false),
  v('5-byte U+3FFFFFF', 'fbbfbfbfbf', false),
  v('6-byte U+7FFFFFFF', 'fdbfbfbfbfbf', false),
  // 2.3 Other boundary conditions
  v('U+D7FF', 'ed9fbf', true),
  v('U+E000', 'ee8080', true),
  v('U+FFFD', 'efbfbd', true),
  v('U+10FFFF', 'f48fbfbf', true),
  v('U+110000', 'f4908080', false),
  // 3.1 Unexpected continuation bytes
  v('first continuation byte 0x80', '80', false),
  v('last continuation byte 0xbf', 'bf', false),
  v('2 continuation bytes', '80bf', false),
  v('3 continuation bytes', '80bf80', false),
  v('4 continuation bytes', '80bf80bf', false),
  v('5 continuation bytes', '80bf80bf80', false),
  v('6 continuation bytes', '80bf80bf80bf', false),
  v('7 continuation bytes', '80bf80bf80bf80', false),
  v('all 64 continuation bytes', range(0x80, 0xbf), false),
  // 3.2 Lonely start characters, each followed by a space
  v('lonely 2-byte starts c0..df', range(0xc0, 0xdf, '20'), false),
  v('lonely 3-byte starts e0..ef', range(0xe0, 0xef, '20'), false),
  v('lonely 4-byte starts f0..f7', range(0xf0, 0xf7, '20'), false),
  v('lonely 5-byte starts f8..fb', range(0xf8, 0xfb, '20'), false),
  v('lonely 6-byte starts fc..fd', range(0xfc, 0xfd, '20'), false),
  // 3.3 Sequences with the last continuation byte missing
  v('2-byte U+0000 without last byte', 'c0', false),
  v('3-byte U+0000 without last byte', 'e080', false),
  v('4-byte U+0000 without last byte', 'f08080', false),
  v('5-byte U+0000 without last byte', 'f8808080', false),
  v('6-byte U+0000 without last byte', 'fc80808080', false),
  v('2-byte U+07FF without last byte', 'df', false),
  v('3-byte U+FFFF without last byte', 'efbf', false),
  v('4-byte U+1FFFFF without last byte', 'f7bfbf', false),
  v('5-byte U+3FFFFFF without last byte', 'fbbfbfbf', false),
  v('6-byte U+7FFFFFFF without last byte', 'fdbfbfbfbf', false),
  v('valid text then a truncated 3-byte sequence', `${KOSME}e282`, false),
  // 3.4 Concatenation of incomplete sequences
  v('all of 3.3 concatenated', 'c0e080f08080f8808080fc80808080dfefbff7bfbffbbfbfbffdbfbfbfbf', false),
  // 3.5 Impossible bytes
  v('0xfe', 'fe', false),
  v('0xff', 'ff', false),
  v('fe fe ff ff', 'fefeffff', false),
  v('0xf5 (would exceed U+10FFFF)', 'f5808080', false),
  // 4.1 Overlong ASCII '/'
  v('overlong "/" in 2 bytes', 'c0af', false),
  v('overlong "/" in 3 bytes', 'e080af', false),
  v('overlong "/" in 4 bytes', 'f08080af', false),
  v('overlong "/" in 5 bytes', 'f8808080af', false),
  v('overlong "/" in 6 bytes', 'fc80808080af', false),
  // 4.2 Maximum overlong sequences
  v('overlong U+007F in 2 bytes', 'c1bf', false),
  v('overlong U+07FF in 3 bytes', 'e09fbf', false),
  v('overlong U+FFFF in 4 bytes', 'f08fbfbf', false),
  v('overlong U+1FFFFF in 5 bytes', 'f887bfbfbf', false),
  v('overlong U+3FFFFFF in 6 bytes', 'fc83bfbfbfbf', false),
  // 4.3 Overlong NUL
  v('overlong NUL in 2 bytes', 'c080', false),
  v('overlong NUL in 3 bytes', 'e08080', false),
  v('overlong NUL in 4 bytes', 'f0808080', false),
  v('overlong NUL in 5 bytes', 'f880808080', false),
  v('overlong NUL in 6 bytes', 'fc8080808080', false),
  // 5.1 Single UTF-16 surrogates
  v('U+D800', 'eda080', false),
  v('U+DB7F', 'edadbf', false),
  v('U+DB80', 'edae80', false),
  v('U+DBFF', 'edafbf', false),
  v('U+DC00', 'edb080', false),
  v('U+DF80', 'edbe80', false),
  v('U+DFFF', 'edbfbf', false),
  // 5.2 Paired UTF-16 surrogates
  v('U+D800 U+DC00', 'eda080edb080', false),
  v('U+D800 U+DFFF', 'eda080edbfbf', false),
  v('U+DB7F U+DC00', 'edadbfedb080', false),
  v('U+DB7F U+DFFF', 'edadbfedbfbf', false),
  v('U+DB80 U+DC00', 'edae80edb080', false),
  v('U+DB80 U+DFFF', 'edae80edbfbf', false),
  v('U+DBFF U+DC00', 'edafbfedb080', false),
  v('U+DBFF U+DFFF', 'edafbfedbfbf', false),
  // 5.3 Noncharacters are valid UTF-8
  v('U+FFFE', 'efbfbe', true),
  v('U+FFFF', 'efbfbf', true),
  v('U+FDD0..U+FDEF', Array.from({ length: 32 }, (_, i) => Buffer.from(String.fromCodePoint(0xfdd0 + i)).toString('hex')).join(''), true),
  v('U+nFFFE/U+nFFFF of planes 1..16', Array.from({ length: 16 }, (_, i) =>
    Buffer.from(String.fromCodePoint(((i + 1) << 16) | 0xfffe, ((i + 1) << 16) | 0xffff)).toString('hex')).join(''), true),
  // Extras: U+FEFF, the empty string, and a long mixed valid text
  v('U+FEFF', 'efbbbf', true),
  v('empty', '', true),
  v('mixed scripts', Buffer.from('Ünïcödé ✓ 漢字 😀 𝄞 — ok').toString('hex'), true),
];
