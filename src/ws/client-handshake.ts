// The client side of wslay/ws: `new WebSocket(url, protocols, options)` sends the upgrade request with Node's http
// client (so 'upgrade', 'unexpected-response' and 'redirect' get ws's real request and response objects, and
// localAddress/family/lookup/ws+unix: are http.request's own), checks the 101 response, and hands the socket to a
// `type: 'client'` WebSocketConnection.
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { TLS_OPTION_NAMES } from '../client.js';
import { WebSocketConnection } from '../connection.js';
import { generateKey, type ParsedServerResponse, validateServerResponse } from '../handshake.js';
import { buildClientOffer, resolveDeflateOption } from '../permessage-deflate.js';
import { formatExtensions } from '../extensions.js';
import {
  type ClientOptions,
  kAbortHandshake,
  kAttach,
  kFailHandshake,
  mapDeflateOption,
  maxRecvSizeFor,
  setClientStarter,
  type WebSocket,
} from './websocket.js';

function parseAddress(address: string | URL): URL {
  let url: URL;
  try {
    url = address instanceof URL ? address : new URL(address);
  } catch {
    throw new SyntaxError(`Invalid URL: ${String(address)}`);
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:' && url.protocol !== 'ws+unix:') {
    throw new SyntaxError('The URL\'s protocol must be one of "ws:", "wss:", "http:", "https:", or "ws+unix:"');
  }
  if (url.hash) throw new SyntaxError('The URL contains a fragment identifier');
  if (url.protocol === 'ws+unix:' && !url.pathname) throw new SyntaxError('The URL\'s pathname is empty');
  return url;
}

function checkOptions(options: ClientOptions): void {
  // Other options are ignored, as ws passes them to http.request (only those listed above are used here).
  const version = options.protocolVersion ?? 13;
  if (version !== 13) {
    throw new RangeError(`Unsupported protocol version: ${version} (supported versions: 13)`);
  }
  if (options.autoPong === false) throw new RangeError('wslay/ws: autoPong: false is not supported (pings are always answered)');
  if (options.handshakeTimeout !== undefined && !(options.handshakeTimeout > 0)) {
    throw new RangeError('handshakeTimeout must be a positive number');
  }
}

function start(ws: WebSocket, address: string | URL, protocols: string[], options: ClientOptions): void {
  checkOptions(options);
  const seen = new Set<string>();
  for (const p of protocols) {
    if (typeof p !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p) || seen.has(p)) {
      throw new SyntaxError('An invalid or duplicated subprotocol was specified');
    }
    seen.add(p);
  }
  const deflate = mapDeflateOption(options.perMessageDeflate, true);
  const deflateOptions = resolveDeflateOption(deflate || false);
  const maxRedirects = options.maxRedirects ?? 10;
  const generateMask = options.generateMask;
  if (generateMask !== undefined && typeof generateMask !== 'function') throw new TypeError('generateMask must be a function');
  let redirects = 0;

  const request = (url: URL, redirected: boolean): void => {
    const secure = url.protocol === 'wss:';
    const key = generateKey();
    const isUnix = url.protocol === 'ws+unix:';
    const headers: Record<string, string | string[] | number> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      // After a redirect to another host, the caller's credentials are not sent on (as ws).
      if (redirected && /^(authorization|cookie)$/i.test(name)) continue;
      headers[name] = value;
    }
    headers['Sec-WebSocket-Version'] = 13;
    headers['Sec-WebSocket-Key'] = key;
    headers.Connection = 'Upgrade';
    headers.Upgrade = 'websocket';
    if (deflateOptions) headers['Sec-WebSocket-Extensions'] = formatExtensions([buildClientOffer(deflateOptions)]);
    if (protocols.length) headers['Sec-WebSocket-Protocol'] = protocols.join(',');
    if (options.origin) headers.Origin = options.origin;
    const opts: http.RequestOptions = {
      headers,
      timeout: options.handshakeTimeout,
      createConnection: secure ? (o: tls.ConnectionOptions) => tls.connect(tlsOptionsFor(o, url)) : (o: net.NetConnectOpts) => net.connect(o),
    } as http.RequestOptions;
    if (isUnix) {
      const full = decodeURIComponent(url.pathname);
      const colon = full.indexOf(':');
      opts.socketPath = colon === -1 ? full : full.slice(0, colon);
      opts.path = (colon === -1 ? '/' : full.slice(colon + 1) || '/') + url.search;
    } else {
      opts.host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
      opts.port = url.port || (secure ? 443 : 80);
      opts.path = (url.pathname || '/') + url.search;
      if (options.localAddress) opts.localAddress = options.localAddress;
      if (options.family !== undefined) opts.family = options.family;
      if (options.lookup) opts.lookup = options.lookup as net.LookupFunction;
    }
    if (url.username || url.password) opts.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    else if (options.auth && !redirected) opts.auth = options.auth;
    if (options.agent) {
      opts.agent = options.agent;
      delete (opts as { createConnection?: unknown }).createConnection;
    }

    // wss: the upgraded socket is a TLSSocket, which WebSocketConnection runs on its stream transport.
    const req = (secure ? https : http).request(opts);
    let done = false;
    const abort = (err: Error): void => {
      if (done) return;
      done = true;
      req.destroy();
      ws[kFailHandshake](err);
    };
    ws[kAbortHandshake] = abort;
    if (options.handshakeTimeout) req.on('timeout', () => abort(new Error('Opening handshake has timed out')));
    req.on('error', (err) => abort(err));
    req.on('response', (res) => {
      const location = res.headers.location;
      const status = res.statusCode ?? 0;
      if (location && options.followRedirects && status >= 300 && status < 400) {
        done = true;
        req.destroy();
        res.resume();
        if (++redirects > maxRedirects) {
          ws[kFailHandshake](new Error('Maximum redirects exceeded'));
          return;
        }
        let next: URL;
        try {
          next = parseAddress(new URL(location, url));
        } catch (err) {
          ws[kFailHandshake](err as Error);
          return;
        }
        ws.emit('redirect', next.href, req);
        const otherHost = next.host !== url.host || next.protocol !== url.protocol;
        request(next, redirected || otherHost);
        return;
      }
      if (ws.listenerCount('unexpected-response') > 0) {
        done = true;
        ws.emit('unexpected-response', req, res);
        // The listener decides about the response; the handshake is over either way.
        ws[kAbortHandshake] = (err) => {
          req.destroy();
          ws[kFailHandshake](err);
        };
        return;
      }
      res.resume();
      abort(new Error(`Unexpected server response: ${status}`));
    });
    req.on('upgrade', (res: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      if (done) {
        socket.destroy();
        return;
      }
      done = true;
      ws.emit('upgrade', res);
      if (ws.readyState !== 0) {
        // closed from an 'upgrade' listener
        socket.destroy();
        return;
      }
      const flat: Record<string, string> = {};
      for (const [name, value] of Object.entries(res.headers)) {
        if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
      }
      const parsed: ParsedServerResponse = {
        httpVersion: res.httpVersion,
        status: res.statusCode ?? 0,
        statusText: res.statusMessage ?? '',
        headers: flat,
        rawHeaders: [],
        bodyOffset: 0,
      };
      let conn: WebSocketConnection;
      let accepted;
      try {
        accepted = validateServerResponse(parsed, { key, protocols, perMessageDeflate: deflateOptions });
        if (protocols.length && accepted.protocol === undefined) throw new Error('Server sent no subprotocol');
        conn = new WebSocketConnection({
          socket,
          head,
          type: 'client',
          perMessageDeflate: accepted.deflate ?? undefined,
          maxRecvSize: maxRecvSizeFor(options.maxPayload),
          genmask: generateMask
            ? (len: number) => {
                const mask = Buffer.alloc(len);
                generateMask(mask);
                return mask;
              }
            : undefined,
        });
      } catch (err) {
        socket.destroy();
        ws[kFailHandshake](err as Error);
        return;
      }
      ws[kAbortHandshake] = undefined;
      ws[kAttach](conn, accepted.protocol ?? '', accepted.deflate ? 'permessage-deflate' : '');
      ws.emit('open');
    });
    if (options.finishRequest) options.finishRequest(req, ws);
    else req.end();
  };
  request(parseAddress(address), false);

  // ws passes node:tls options at the top level; SNI is the host's name (not for an IP), ALPN is HTTP/1.1.
  function tlsOptionsFor(connect: tls.ConnectionOptions, url: URL): tls.ConnectionOptions {
    const own: tls.ConnectionOptions = { ...connect, ALPNProtocols: ['http/1.1'] };
    for (const name of TLS_OPTION_NAMES) {
      if (options[name] !== undefined) (own as Record<string, unknown>)[name] = options[name];
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (own.servername === undefined && !net.isIP(host)) own.servername = host;
    return own;
  }
}

setClientStarter(start);
