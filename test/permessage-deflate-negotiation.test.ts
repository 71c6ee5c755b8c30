import { describe, expect, it } from 'vitest';
import { HandshakeError } from '../src/errors.js';
import { formatExtensions, parseExtensions } from '../src/extensions.js';
import {
  acceptOffer,
  acceptServerResponse,
  buildClientOffer,
  deflateParamsFor,
  negotiateClient,
  negotiateServer,
  resolveDeflateOption,
  validateDeflateOptions,
  type NegotiatedDeflate,
  type PerMessageDeflateOptions,
} from '../src/permessage-deflate.js';
import { NEGOTIATED_DEFAULTS as DEFAULTS } from './helpers/deflate-defaults.js';

/** Server negotiation from a raw header: the response header and the agreement, or null when declined. */
function server(header: string, options: PerMessageDeflateOptions = {}) {
  const result = negotiateServer(parseExtensions(header), options);
  return result && { response: formatExtensions([result.response]), negotiated: result.negotiated };
}

/** Client validation of a raw response header against the offer built from `options`. */
function client(header: string, options: PerMessageDeflateOptions = {}) {
  return negotiateClient(parseExtensions(header), options);
}

describe('server: each offer parameter alone (default options)', () => {
  it.each<[string, string, Partial<NegotiatedDeflate>]>([
    ['permessage-deflate', 'permessage-deflate', {}],
    ['permessage-deflate; client_max_window_bits', 'permessage-deflate', {}],
    // A window below 15 is always confirmed, so clients that read a missing value as 15 agree with us.
    ['permessage-deflate; client_max_window_bits=10', 'permessage-deflate; client_max_window_bits=10', { clientMaxWindowBits: 10 }],
    ['permessage-deflate; client_max_window_bits=8', 'permessage-deflate; client_max_window_bits=8', { clientMaxWindowBits: 8 }],
    ['permessage-deflate; server_max_window_bits=10', 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
    ['permessage-deflate; server_max_window_bits=8', 'permessage-deflate; server_max_window_bits=8', { serverMaxWindowBits: 8 }],
    ['permessage-deflate; server_max_window_bits=15', 'permessage-deflate; server_max_window_bits=15', {}],
    ['permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }],
    ['permessage-deflate; client_no_context_takeover', 'permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: true }],
    ['permessage-deflate; server_max_window_bits="10"', 'permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }],
    ['permessage-deflate; client_max_window_bits="9"', 'permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 9 }],
    ['permessage-deflate; client_max_window_bits=15', 'permessage-deflate', {}],
  ])('%s → %s', (offer, response, negotiated) => {
    expect(server(offer)).toEqual({ response, negotiated: { ...DEFAULTS, ...negotiated } });
  });

  it('accepts every parameter combined', () => {
    expect(
      server(
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11',
      ),
    ).toEqual({
      response:
        'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=11',
      negotiated: {
        ...DEFAULTS,
        serverNoContextTakeover: true,
        clientNoContextTakeover: true,
        serverMaxWindowBits: 9,
        clientMaxWindowBits: 11,
      },
    });
  });
});

describe('server: options', () => {
  it('serverNoContextTakeover: true announces it unasked; false declines offers demanding it', () => {
    expect(server('permessage-deflate', { serverNoContextTakeover: true })?.response).toBe(
      'permessage-deflate; server_no_context_takeover',
    );
    expect(server('permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: false })).toBeNull();
    expect(
      server('permessage-deflate; server_no_context_takeover, permessage-deflate', { serverNoContextTakeover: false }),
    ).toEqual({ response: 'permessage-deflate', negotiated: DEFAULTS });
  });

  it('clientNoContextTakeover: true asks for it; false does not confirm the hint', () => {
    expect(server('permessage-deflate', { clientNoContextTakeover: true })).toEqual({
      response: 'permessage-deflate; client_no_context_takeover',
      negotiated: { ...DEFAULTS, clientNoContextTakeover: true },
    });
    expect(server('permessage-deflate; client_no_context_takeover', { clientNoContextTakeover: false })).toEqual({
      response: 'permessage-deflate',
      negotiated: DEFAULTS,
    });
  });

  it.each<[string, number, string, number]>([
    ['permessage-deflate', 12, 'permessage-deflate; server_max_window_bits=12', 12],
    ['permessage-deflate; server_max_window_bits=10', 12, 'permessage-deflate; server_max_window_bits=10', 10],
    ['permessage-deflate; server_max_window_bits=14', 12, 'permessage-deflate; server_max_window_bits=12', 12],
    ['permessage-deflate', 8, 'permessage-deflate; server_max_window_bits=8', 8],
  ])('serverMaxWindowBits: offer %j with option %d → %j', (offer, option, response, bits) => {
    expect(server(offer, { serverMaxWindowBits: option })).toEqual({
      response,
      negotiated: { ...DEFAULTS, serverMaxWindowBits: bits },
    });
  });

  it.each<[string, number, string, number]>([
    ['permessage-deflate; client_max_window_bits', 12, 'permessage-deflate; client_max_window_bits=12', 12],
    ['permessage-deflate; client_max_window_bits=10', 12, 'permessage-deflate; client_max_window_bits=10', 10],
    ['permessage-deflate; client_max_window_bits=14', 12, 'permessage-deflate; client_max_window_bits=12', 12],
    // The client did not offer the parameter: we may not send it, the offer is still accepted with 15.
    ['permessage-deflate', 12, 'permessage-deflate', 15],
  ])('clientMaxWindowBits: offer %j with option %d → %j', (offer, option, response, bits) => {
    expect(server(offer, { clientMaxWindowBits: option })).toEqual({
      response,
      negotiated: { ...DEFAULTS, clientMaxWindowBits: bits },
    });
  });

  it('passes level, memLevel and threshold through', () => {
    expect(server('permessage-deflate', { level: 1, memLevel: 9, threshold: 0 })?.negotiated).toEqual({
      ...DEFAULTS,
      level: 1,
      memLevel: 9,
      threshold: 0,
    });
  });
});

describe('server: invalid offers are declined', () => {
  it.each([
    ['unknown parameter', 'permessage-deflate; foo'],
    ['unknown parameter with value', 'permessage-deflate; foo=1'],
    ['repeated server_no_context_takeover', 'permessage-deflate; server_no_context_takeover; server_no_context_takeover'],
    ['repeated client_no_context_takeover', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover'],
    ['repeated server_max_window_bits', 'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10'],
    ['repeated client_max_window_bits', 'permessage-deflate; client_max_window_bits; client_max_window_bits=10'],
    ['server_no_context_takeover with a value', 'permessage-deflate; server_no_context_takeover=1'],
    ['client_no_context_takeover with a quoted value', 'permessage-deflate; client_no_context_takeover="x"'],
    ['server_max_window_bits without a value', 'permessage-deflate; server_max_window_bits'],
    ['server_max_window_bits=7', 'permessage-deflate; server_max_window_bits=7'],
    ['server_max_window_bits=16', 'permessage-deflate; server_max_window_bits=16'],
    ['server_max_window_bits=010 (leading zero)', 'permessage-deflate; server_max_window_bits=010'],
    ['server_max_window_bits=09 (leading zero)', 'permessage-deflate; server_max_window_bits=09'],
    ['server_max_window_bits=abc', 'permessage-deflate; server_max_window_bits=abc'],
    ['server_max_window_bits=-1', 'permessage-deflate; server_max_window_bits=-1'],
    ['server_max_window_bits=10.0', 'permessage-deflate; server_max_window_bits=10.0'],
    ['client_max_window_bits=7', 'permessage-deflate; client_max_window_bits=7'],
    ['client_max_window_bits=16', 'permessage-deflate; client_max_window_bits=16'],
    ['client_max_window_bits="1a"', 'permessage-deflate; client_max_window_bits="1a"'],
  ])('%s', (_name, header) => {
    const [offer] = parseExtensions(header);
    expect(acceptOffer(offer!)).toHaveProperty('declined', expect.any(String));
    expect(server(header)).toBeNull();
    // A valid later offer is still taken.
    expect(server(`${header}, permessage-deflate; client_max_window_bits=9`)).toEqual({
      response: 'permessage-deflate; client_max_window_bits=9',
      negotiated: { ...DEFAULTS, clientMaxWindowBits: 9 },
    });
  });
});

describe('server: several offers', () => {
  it('takes the first acceptable offer', () => {
    expect(
      server('permessage-deflate; server_max_window_bits=10, permessage-deflate; server_max_window_bits=12')?.negotiated
        .serverMaxWindowBits,
    ).toBe(10);
  });

  it('ignores other extensions, before and after', () => {
    expect(server('x-webkit-deflate-frame, permessage-deflate; client_no_context_takeover, x-other; a=1')).toEqual({
      response: 'permessage-deflate; client_no_context_takeover',
      negotiated: { ...DEFAULTS, clientNoContextTakeover: true },
    });
  });

  it('returns null without an offer', () => {
    expect(server('x-webkit-deflate-frame')).toBeNull();
    expect(server('')).toBeNull();
  });

  it('a typical browser offer', () => {
    expect(server('permessage-deflate; client_max_window_bits', { clientMaxWindowBits: 10, serverMaxWindowBits: 11 })).toEqual({
      response: 'permessage-deflate; server_max_window_bits=11; client_max_window_bits=10',
      negotiated: { ...DEFAULTS, serverMaxWindowBits: 11, clientMaxWindowBits: 10 },
    });
  });
});

describe('client: the offer', () => {
  it.each<[PerMessageDeflateOptions, string]>([
    [{}, 'permessage-deflate; client_max_window_bits'],
    [{ clientMaxWindowBits: 10 }, 'permessage-deflate; client_max_window_bits=10'],
    [{ serverMaxWindowBits: 9 }, 'permessage-deflate; server_max_window_bits=9; client_max_window_bits'],
    [{ serverNoContextTakeover: true }, 'permessage-deflate; server_no_context_takeover; client_max_window_bits'],
    [{ clientNoContextTakeover: true }, 'permessage-deflate; client_no_context_takeover; client_max_window_bits'],
    [
      { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 13 },
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=13',
    ],
  ])('%j → %s', (options, header) => {
    expect(formatExtensions([buildClientOffer(options)])).toBe(header);
  });

  it('every offer we build is accepted by our own server with the same meaning', () => {
    const options = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 13 };
    const accepted = negotiateServer([buildClientOffer(options)]);
    expect(accepted).not.toBeNull();
    expect(negotiateClient([accepted!.response], options)).toEqual(accepted!.negotiated);
  });
});

describe('client: validating the response', () => {
  it.each<[string, PerMessageDeflateOptions, Partial<NegotiatedDeflate>]>([
    ['permessage-deflate', {}, {}],
    ['permessage-deflate; server_no_context_takeover', {}, { serverNoContextTakeover: true }],
    ['permessage-deflate; client_no_context_takeover', {}, { clientNoContextTakeover: true }],
    ['permessage-deflate; server_max_window_bits=10', {}, { serverMaxWindowBits: 10 }],
    ['permessage-deflate; client_max_window_bits=10', {}, { clientMaxWindowBits: 10 }],
    ['permessage-deflate; client_max_window_bits=8', {}, { clientMaxWindowBits: 8 }],
    ['permessage-deflate; client_max_window_bits="9"', {}, { clientMaxWindowBits: 9 }],
    ['permessage-deflate', { clientMaxWindowBits: 10 }, { clientMaxWindowBits: 10 }],
    ['permessage-deflate; client_max_window_bits=9', { clientMaxWindowBits: 10 }, { clientMaxWindowBits: 9 }],
    ['permessage-deflate; server_max_window_bits=10', { serverMaxWindowBits: 10 }, { serverMaxWindowBits: 10 }],
    ['permessage-deflate; server_max_window_bits=9', { serverMaxWindowBits: 10 }, { serverMaxWindowBits: 9 }],
    ['permessage-deflate; server_no_context_takeover', { serverNoContextTakeover: true }, { serverNoContextTakeover: true }],
    // Offering client_no_context_takeover is our promise, confirmed or not.
    ['permessage-deflate', { clientNoContextTakeover: true }, { clientNoContextTakeover: true }],
    ['permessage-deflate', { level: 9, memLevel: 4, threshold: 10 }, { level: 9, memLevel: 4, threshold: 10 }],
  ])('%s with %j', (header, options, negotiated) => {
    expect(client(header, options)).toEqual({ ...DEFAULTS, ...negotiated });
  });

  it('returns null when the server did not accept permessage-deflate', () => {
    expect(client('')).toBeNull();
  });

  it.each<[string, PerMessageDeflateOptions, RegExp]>([
    ['permessage-deflate; foo', {}, /unknown parameter foo/],
    ['permessage-deflate; server_no_context_takeover; server_no_context_takeover', {}, /repeated/],
    ['permessage-deflate; server_max_window_bits=10; server_max_window_bits=11', {}, /repeated/],
    ['permessage-deflate; server_no_context_takeover=1', {}, /takes no value/],
    ['permessage-deflate; client_max_window_bits', {}, /needs a value/],
    ['permessage-deflate; server_max_window_bits', {}, /needs a value/],
    ['permessage-deflate; server_max_window_bits=16', {}, /invalid value/],
    ['permessage-deflate; client_max_window_bits=7', {}, /invalid value/],
    ['permessage-deflate; client_max_window_bits=011', {}, /invalid value/],
    ['permessage-deflate; client_max_window_bits=11', { clientMaxWindowBits: 10 }, /exceeds the offered 10/],
    ['permessage-deflate', { serverMaxWindowBits: 10 }, /not confirmed/],
    ['permessage-deflate; server_max_window_bits=11', { serverMaxWindowBits: 10 }, /exceeds the requested 10/],
    ['permessage-deflate', { serverNoContextTakeover: true }, /not confirmed/],
    ['permessage-deflate, permessage-deflate', {}, /more than once/],
  ])('%s with %j fails', (header, options, message) => {
    let error: unknown;
    try {
      client(header, options);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).code).toBe('BAD_EXTENSION');
    expect((error as HandshakeError).message).toMatch(message);
  });

  it('acceptServerResponse rejects another extension', () => {
    expect(() => acceptServerResponse({ name: 'x-foo', params: [] })).toThrow(HandshakeError);
  });
});

describe('options', () => {
  it('resolveDeflateOption maps booleans', () => {
    expect(resolveDeflateOption(undefined)).toBeNull();
    expect(resolveDeflateOption(false)).toBeNull();
    expect(resolveDeflateOption(true)).toEqual({});
    expect(resolveDeflateOption({ level: 3 })).toEqual({ level: 3 });
  });

  it.each<[PerMessageDeflateOptions, ErrorConstructor]>([
    [{ serverMaxWindowBits: 7 }, RangeError],
    [{ serverMaxWindowBits: 16 }, RangeError],
    [{ clientMaxWindowBits: 9.5 }, TypeError],
    [{ level: 10 }, RangeError],
    [{ level: -2 }, RangeError],
    [{ memLevel: 0 }, RangeError],
    [{ memLevel: 10 }, RangeError],
    [{ threshold: -1 }, RangeError],
    [{ threshold: Number.NaN }, RangeError],
    [{ serverNoContextTakeover: 1 as unknown as boolean }, TypeError],
  ])('%j is rejected', (options, type) => {
    expect(() => validateDeflateOptions(options)).toThrow(type);
  });

  it('accepts the full valid ranges', () => {
    expect(() =>
      validateDeflateOptions({ serverMaxWindowBits: 8, clientMaxWindowBits: 15, level: -1, memLevel: 1, threshold: 0 }),
    ).not.toThrow();
    expect(() => validateDeflateOptions({ level: 9, memLevel: 9, threshold: Infinity })).not.toThrow();
  });
});

describe('deflateParamsFor', () => {
  const n: NegotiatedDeflate = {
    serverNoContextTakeover: true,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 10,
    clientMaxWindowBits: 12,
    level: 3,
    memLevel: 7,
    threshold: 0,
  };

  it('maps server_* to what the server compresses and the client inflates', () => {
    expect(deflateParamsFor('server', n)).toEqual({
      compressWindowBits: 10,
      decompressWindowBits: 12,
      compressNoContextTakeover: true,
      decompressNoContextTakeover: false,
      level: 3,
      memLevel: 7,
    });
    expect(deflateParamsFor('client', n)).toEqual({
      compressWindowBits: 12,
      decompressWindowBits: 10,
      compressNoContextTakeover: false,
      decompressNoContextTakeover: true,
      level: 3,
      memLevel: 7,
    });
  });
});
