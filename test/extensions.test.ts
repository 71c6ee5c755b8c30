import { describe, expect, it } from 'vitest';
import { HeaderSyntaxError } from '../src/errors.js';
import { formatExtensions, isToken, parseExtensions, parseProtocols } from '../src/extensions.js';

describe('parseExtensions', () => {
  it('parses one extension without parameters', () => {
    expect(parseExtensions('permessage-deflate')).toEqual([{ name: 'permessage-deflate', params: [] }]);
  });

  it('parses parameters with and without values, in order', () => {
    expect(parseExtensions('permessage-deflate; client_max_window_bits; server_max_window_bits=10')).toEqual([
      {
        name: 'permessage-deflate',
        params: [
          { name: 'client_max_window_bits', value: true },
          { name: 'server_max_window_bits', value: '10' },
        ],
      },
    ]);
  });

  it('keeps several offers of the same extension and other extensions, in order', () => {
    const parsed = parseExtensions('permessage-deflate; server_max_window_bits=10, x-foo, permessage-deflate');
    expect(parsed.map((e) => e.name)).toEqual(['permessage-deflate', 'x-foo', 'permessage-deflate']);
    expect(parsed[2]!.params).toEqual([]);
  });

  it('keeps repeated parameters so negotiation can reject them', () => {
    expect(parseExtensions('a; p=1; p=2')[0]!.params).toEqual([
      { name: 'p', value: '1' },
      { name: 'p', value: '2' },
    ]);
  });

  it('unquotes quoted-string values, escapes included', () => {
    expect(parseExtensions('a; p="10"')[0]!.params).toEqual([{ name: 'p', value: '10' }]);
    expect(parseExtensions('a; p="x\\yz"')[0]!.params).toEqual([{ name: 'p', value: 'xyz' }]);
  });

  it('accepts optional whitespace (spaces and tabs) around every separator', () => {
    expect(parseExtensions(' \ta \t; \tp \t= \t"1" \t, \tb\t;q ')).toEqual([
      { name: 'a', params: [{ name: 'p', value: '1' }] },
      { name: 'b', params: [{ name: 'q', value: true }] },
    ]);
  });

  it('skips empty list elements and returns [] for a blank value', () => {
    expect(parseExtensions('a, , ,b,')).toEqual([
      { name: 'a', params: [] },
      { name: 'b', params: [] },
    ]);
    expect(parseExtensions('')).toEqual([]);
    expect(parseExtensions('  ')).toEqual([]);
  });

  it.each([
    ['; a', 'leading semicolon'],
    ['a;', 'trailing semicolon'],
    ['a; ;p', 'empty parameter'],
    ['a; p=', 'missing value'],
    ['a; =1', 'missing parameter name'],
    ['a b', 'two tokens without a separator'],
    ['a; p=1 2', 'two values'],
    ['a; p="10', 'unterminated quote'],
    ['a; p="1 0"', 'quoted value that is not a token'],
    ['a; p=""', 'empty quoted value'],
    ['a; p="x\\', 'dangling escape'],
    ['a; p=1=2', 'two equals signs'],
    ['a@b', 'separator inside a name'],
    ['a; p=(1)', 'separator inside a value'],
    ['é', 'non-ASCII name'],
    ['a; p="\u0001"', 'control character in a quoted value'],
  ])('rejects %j (%s) with a HeaderSyntaxError', (header) => {
    expect(() => parseExtensions(header)).toThrow(HeaderSyntaxError);
    expect(() => parseExtensions(header)).toThrow(/Invalid Sec-WebSocket-Extensions header: .*offset/);
  });
});

describe('formatExtensions', () => {
  it('formats elements the way the parser reads them', () => {
    const elements = [
      { name: 'permessage-deflate', params: [{ name: 'client_max_window_bits', value: true as const }] },
      { name: 'x', params: [{ name: 'a', value: '1' }, { name: 'b', value: 'two words' }] },
    ];
    const header = formatExtensions(elements);
    expect(header).toBe('permessage-deflate; client_max_window_bits, x; a=1; b="two words"');
    // The quoted non-token value is legal HTTP but not a legal extension value, so the parser refuses it.
    expect(() => parseExtensions(header)).toThrow(HeaderSyntaxError);
    expect(parseExtensions(formatExtensions([elements[0]!]))).toEqual([elements[0]]);
  });

  it('escapes quotes and backslashes in quoted values', () => {
    expect(formatExtensions([{ name: 'x', params: [{ name: 'a', value: 'say "hi"\\' }] }])).toBe('x; a="say \\"hi\\"\\\\"');
  });

  it('rejects invalid names and control characters', () => {
    expect(() => formatExtensions([{ name: 'bad name', params: [] }])).toThrow(TypeError);
    expect(() => formatExtensions([{ name: 'x', params: [{ name: 'a=b', value: true }] }])).toThrow(TypeError);
    expect(() => formatExtensions([{ name: 'x', params: [{ name: 'a', value: 'x\r\ny' }] }])).toThrow(TypeError);
  });

  it('formats an empty list as an empty string', () => {
    expect(formatExtensions([])).toBe('');
  });
});

describe('parseProtocols', () => {
  it('parses a token list with optional whitespace', () => {
    expect(parseProtocols('chat, superchat ,\tv2.json')).toEqual(['chat', 'superchat', 'v2.json']);
    expect(parseProtocols('chat')).toEqual(['chat']);
    expect(parseProtocols('')).toEqual([]);
    expect(parseProtocols('a,,b')).toEqual(['a', 'b']);
  });

  it.each([['a b'], ['a;b'], ['"a"'], ['a/b'], ['chat, chat']])('rejects %j', (header) => {
    expect(() => parseProtocols(header)).toThrow(HeaderSyntaxError);
    expect(() => parseProtocols(header)).toThrow(/Invalid Sec-WebSocket-Protocol header/);
  });
});

describe('isToken', () => {
  it('accepts tchar strings only', () => {
    expect(isToken("!#$%&'*+-.^_`|~09AZaz")).toBe(true);
    for (const bad of ['', ' ', 'a b', 'a,b', 'a;b', 'a=b', '"', '(', '/', 'é', '\u007f']) {
      expect(isToken(bad)).toBe(false);
    }
  });
});
