// The package's entry. Every value is exported as a plain data property (`export const`), none re-exported with
// `export { x } from`: CommonJS re-exports compile to accessors defined with Object.defineProperty, and with them V8
// keeps the exports object as a hash table, so every `wslay.Opcode.TEXT` in a CommonJS user's message handler was
// a dictionary lookup (~300 instructions per message for a handler that checks two opcodes). Classes are exported
// as a value and a type of the same name.
import * as client from './client.js';
import * as connection from './connection.js';
import * as constants from './constants.js';
import * as errors from './errors.js';
import * as handoff from './handoff.js';
import * as handshake from './handshake.js';
import * as pubsub from './pubsub.js';
import * as receiveBudget from './receive-budget.js';
import * as server from './server.js';
import * as workerPool from './worker-pool.js';

export const WebSocketConnection = connection.WebSocketConnection;
export type WebSocketConnection = connection.WebSocketConnection;
export type {
  CloseInfo,
  FragmentSource,
  Genmask,
  MessageData,
  OnClose,
  OnFrameRecvChunk,
  OnFrameRecvEnd,
  OnFrameRecvStart,
  OnMsgRecv,
  WebSocketConnectionOptions,
} from './connection.js';
export const isValidCloseCode = constants.isValidCloseCode;
export type { DataOpcode, FrameOpcode, MessageOpcode, RsvBits } from './constants.js';
export const Opcode = constants.Opcode;
export type Opcode = constants.Opcode;
export const FragmentedStatus = constants.FragmentedStatus;
export type FragmentedStatus = constants.FragmentedStatus;
export const RSV1 = constants.RSV1;
export const RSV2 = constants.RSV2;
export const RSV3 = constants.RSV3;
export const getReceiveBudget = receiveBudget.getReceiveBudget;
export const setReceiveBudget = receiveBudget.setReceiveBudget;
export type { ReceiveBudget } from './receive-budget.js';
export const acceptKey = handshake.acceptKey;
export const answerUpgrade = server.answerUpgrade;
export const handleUpgrade = server.handleUpgrade;
export const WebSocketServer = server.WebSocketServer;
export type WebSocketServer = server.WebSocketServer;
export type {
  HandleUpgradeOptions,
  UpgradeAgreement,
  UpgradeHandshakeOptions,
  WebSocketServerEvents,
  WebSocketServerOptions,
} from './server.js';
export const connect = client.connect;
export type { ConnectOptions } from './client.js';
export const HandshakeError = errors.HandshakeError;
export type HandshakeError = errors.HandshakeError;
export type { HandshakeErrorCode } from './errors.js';
export type { PassedConnectionOptions } from './options.js';
export type { NegotiatedDeflate, PerMessageDeflateOptions } from './permessage-deflate.js';
export const adoptSocket = handoff.adoptSocket;
export const detachSocket = handoff.detachSocket;
export const isSocketHandoffMessage = handoff.isSocketHandoffMessage;
export const SocketHandoff = handoff.SocketHandoff;
export type SocketHandoff = handoff.SocketHandoff;
export const upgradeForHandoff = handoff.upgradeForHandoff;
export type { AdoptOptions, HandoffDetails, HandoffRequestInfo, SocketHandoffMessage, UpgradeHandoffOptions } from './handoff.js';
export const WorkerPool = workerPool.WorkerPool;
export type WorkerPool = workerPool.WorkerPool;
export const publish = pubsub.publish;
export const publishLocal = pubsub.publishLocal;
export const setPublishBridge = pubsub.setPublishBridge;
export const subscriberCount = pubsub.subscriberCount;
export type { PublishBridge, PublishData, PublishOptions } from './pubsub.js';
export type { PooledConnectionInfo, PoolWorkerModule, WorkerPoolOptions } from './worker-pool.js';
