// createWebSocketStream(ws, options): a Duplex over a wslay/ws WebSocket with ws 8's semantics. Each message is one
// readable chunk (backpressure pauses the socket's reading); each written chunk is one message; ending the writable
// side closes the WebSocket; destroying the stream terminates it, and 'error' on the WebSocket destroys the stream.
import { Duplex, type DuplexOptions } from 'node:stream';

import { CLOSED, CONNECTING, type RawData, type WebSocket } from './websocket.js';

export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  let terminateOnDestroy = true;
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
  });

  ws.on('message', (msg: RawData, isBinary: boolean) => {
    const data = !isBinary && duplex.readableObjectMode ? (msg as Buffer).toString() : msg;
    if (!duplex.push(data)) ws.pause();
  });
  ws.once('error', (err: Error) => {
    if (duplex.destroyed) return;
    // The connection already ended: nothing to terminate (ws's order: 'error' then 'close').
    terminateOnDestroy = false;
    duplex.destroy(err);
  });
  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  duplex._destroy = (err, callback) => {
    if (ws.readyState === CLOSED) {
      callback(err);
      process.nextTick(() => duplex.emit('close'));
      return;
    }
    let called = false;
    ws.once('error', (e: Error) => {
      called = true;
      callback(e);
    });
    ws.once('close', () => {
      if (!called) callback(err);
      process.nextTick(() => duplex.emit('close'));
    });
    if (terminateOnDestroy) ws.terminate();
  };
  duplex._final = (callback) => {
    if (ws.readyState === CONNECTING) {
      ws.once('open', () => duplex._final(callback));
      return;
    }
    if (ws.readyState === CLOSED) {
      callback();
      if (duplex.readableEnded) duplex.destroy();
      return;
    }
    ws.once('close', () => {
      callback();
      if (duplex.readableEnded) duplex.destroy();
    });
    ws.close();
  };
  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };
  duplex._write = (chunk, _encoding, callback) => {
    if (ws.readyState === CONNECTING) {
      ws.once('open', () => duplex._write(chunk, _encoding, callback));
      return;
    }
    ws.send(chunk, callback);
  };
  duplex.on('end', () => {
    if (!duplex.destroyed && duplex.writableFinished) duplex.destroy();
  });
  duplex.on('error', function onError(this: Duplex, err) {
    this.removeListener('error', onError);
    this.destroy();
    if (this.listenerCount('error') === 0) this.emit('error', err);
  });
  return duplex;
}
