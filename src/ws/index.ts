// wslay/ws: the `ws` package's API (v8) over this package's native connections. `require('wslay/ws')` gives the
// WebSocket class with WebSocket, WebSocketServer, Server and createWebSocketStream on it, as `require('ws')` does;
// the ESM entry (index.mjs, written by scripts/esm-entry.mjs) has ws's named exports.
import './client-handshake.js'; // links the client into WebSocket's constructor
import { createWebSocketStream } from './stream.js';
import { WebSocket } from './websocket.js';
import { WebSocketServer } from './websocket-server.js';

WebSocket.WebSocket = WebSocket;
WebSocket.WebSocketServer = WebSocketServer;
WebSocket.Server = WebSocketServer;
WebSocket.createWebSocketStream = createWebSocketStream;

export = WebSocket;
