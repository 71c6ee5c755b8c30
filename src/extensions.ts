/**
 * Parsing and formatting of the `Sec-WebSocket-Extensions` (RFC 6455 §9.1) and `Sec-WebSocket-Protocol`
 * (RFC 6455 §4.1, §11.3.4) header values. Pure string functions: no negotiation policy lives here.
 */

import { HeaderSyntaxError } from './errors.js';

/** A parameter value: the (unquoted) string, or `true` for a parameter written without `=value`. */
export type ExtensionParamValue = string | true;

/** One parameter of an extension element, in header order. */
export interface ExtensionParam {
  name: string;
  value: ExtensionParamValue;
}

/**
 * One element of an extension list: an offer (in a request) or an acceptance (in a response). Parameters keep
 * their order and duplicates, so negotiation can reject duplicates as RFC 7692 §7 requires.
 */
export interface ExtensionElement {
  name: string;
  params: ExtensionParam[];
}

const EXTENSIONS_HEADER = 'Sec-WebSocket-Extensions';
const PROTOCOL_HEADER = 'Sec-WebSocket-Protocol';

// RFC 7230 §3.2.6 tchar, indexed by char code (all < 128).
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

/** True when `s` is a non-empty RFC 7230 token (the only shape extension names, params and subprotocols take). */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** A cursor over one header value; every method throws `HeaderSyntaxError` naming the position on bad input. */
class Scanner {
  pos = 0;
  constructor(
    readonly text: string,
    readonly header: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): number {
    return this.text.charCodeAt(this.pos);
  }

  skipOws(): void {
    while (!this.done && isOws(this.peek())) this.pos++;
  }

  fail(what: string): never {
    const found = this.done ? 'end of header' : JSON.stringify(this.text[this.pos]);
    throw new HeaderSyntaxError(this.header, `expected ${what} at offset ${this.pos}, found ${found}`);
  }

  token(what: string): string {
    const start = this.pos;
    while (!this.done && isTchar(this.peek())) this.pos++;
    if (this.pos === start) this.fail(what);
    return this.text.slice(start, this.pos);
  }

  /** Reads a quoted-string (the opening quote is at `pos`) and returns it with quoted-pairs resolved. */
  quotedString(): string {
    this.pos++; // opening DQUOTE
    let out = '';
    for (;;) {
      if (this.done) this.fail('closing quote');
      const c = this.peek();
      if (c === 0x22) {
        this.pos++;
        return out;
      }
      if (c === 0x5c) {
        this.pos++;
        if (this.done) this.fail('escaped character');
        const e = this.peek();
        if (!(e === 0x09 || (e >= 0x20 && e !== 0x7f))) this.fail('escaped character');
        out += this.text[this.pos++];
        continue;
      }
      // qdtext: HTAB / SP / VCHAR except DQUOTE and backslash / obs-text
      if (!(c === 0x09 || (c >= 0x20 && c !== 0x7f))) this.fail('quoted text');
      out += this.text[this.pos++];
    }
  }
}

/**
 * Parses a `Sec-WebSocket-Extensions` value (RFC 6455 §9.1):
 * `extension *( "," extension )`, `extension = token *( ";" token [ "=" ( token / quoted-string ) ] )`, with optional
 * whitespace around every separator. Several header lines must be joined with `", "` first (Node does this).
 * Empty list elements (`a, , b`) are skipped as RFC 7230 §7 asks; an empty or blank value yields `[]`.
 * A quoted value must still be a token once unquoted (RFC 6455 §9.1).
 *
 * @returns the elements in header order, several elements with the same name included.
 * @throws HeaderSyntaxError on anything else.
 */
export function parseExtensions(header: string): ExtensionElement[] {
  const s = new Scanner(header, EXTENSIONS_HEADER);
  const result: ExtensionElement[] = [];
  for (;;) {
    s.skipOws();
    if (s.done) break;
    if (s.peek() === 0x2c) {
      s.pos++; // empty element
      continue;
    }
    const element: ExtensionElement = { name: s.token('extension name'), params: [] };
    s.skipOws();
    while (!s.done && s.peek() === 0x3b) {
      s.pos++;
      s.skipOws();
      const name = s.token('parameter name');
      let value: ExtensionParamValue = true;
      s.skipOws();
      if (!s.done && s.peek() === 0x3d) {
        s.pos++;
        s.skipOws();
        if (!s.done && s.peek() === 0x22) {
          const start = s.pos;
          value = s.quotedString();
          if (!isToken(value)) {
            throw new HeaderSyntaxError(
              EXTENSIONS_HEADER,
              `quoted value at offset ${start} is not a token once unquoted`,
            );
          }
        } else {
          value = s.token('parameter value');
        }
        s.skipOws();
      }
      element.params.push({ name, value });
    }
    result.push(element);
    if (s.done) break;
    if (s.peek() !== 0x2c) s.fail('"," or ";"');
    s.pos++;
  }
  return result;
}

/**
 * Formats extension elements as a `Sec-WebSocket-Extensions` value: `a; p; q=1, b`. Values that are not tokens
 * are written as quoted-strings.
 *
 * @throws TypeError when a name is not a token or a value cannot be written (control characters).
 */
export function formatExtensions(elements: readonly ExtensionElement[]): string {
  return elements
    .map((element) => {
      if (!isToken(element.name)) throw new TypeError(`Invalid extension name ${JSON.stringify(element.name)}`);
      const parts = [element.name];
      for (const { name, value } of element.params) {
        if (!isToken(name)) throw new TypeError(`Invalid extension parameter name ${JSON.stringify(name)}`);
        if (value === true) parts.push(name);
        else parts.push(`${name}=${formatParamValue(value)}`);
      }
      return parts.join('; ');
    })
    .join(', ');
}

function formatParamValue(value: string): string {
  if (isToken(value)) return value;
  let out = '"';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (c < 0x20 || c === 0x7f) throw new TypeError(`Invalid extension parameter value ${JSON.stringify(value)}`);
    out += ch === '"' || ch === '\\' ? `\\${ch}` : ch;
  }
  return `${out}"`;
}

/**
 * Parses a `Sec-WebSocket-Protocol` value: a comma-separated list of tokens with optional whitespace (RFC 6455
 * §4.1 requires the names to be tokens and unique). Empty elements are skipped; a blank value yields `[]`.
 *
 * @throws HeaderSyntaxError on a non-token name or a repeated name.
 */
export function parseProtocols(header: string): string[] {
  const s = new Scanner(header, PROTOCOL_HEADER);
  const result: string[] = [];
  for (;;) {
    s.skipOws();
    if (s.done) break;
    if (s.peek() === 0x2c) {
      s.pos++;
      continue;
    }
    const start = s.pos;
    const name = s.token('subprotocol name');
    if (result.includes(name)) {
      throw new HeaderSyntaxError(PROTOCOL_HEADER, `subprotocol ${JSON.stringify(name)} at offset ${start} is repeated`);
    }
    result.push(name);
    s.skipOws();
    if (s.done) break;
    if (s.peek() !== 0x2c) s.fail('","');
    s.pos++;
  }
  return result;
}
