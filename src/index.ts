export { WebSocketConnection } from './connection.js';
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
import * as constants from './constants.js';
export { isValidCloseCode } from './constants.js';
export type { DataOpcode, FrameOpcode, MessageOpcode, RsvBits } from './constants.js';
// Declared here, not re-exported: CommonJS re-exports compile to getters, and `Opcode.TEXT` on a hot path would
// call one for every message. These are plain data properties of the module.
export const Opcode = constants.Opcode;
export type Opcode = constants.Opcode;
export const FragmentedStatus = constants.FragmentedStatus;
export type FragmentedStatus = constants.FragmentedStatus;
export const RSV1 = constants.RSV1;
export const RSV2 = constants.RSV2;
export const RSV3 = constants.RSV3;
export { getReceiveBudget, setReceiveBudget } from './receive-budget.js';
export type { ReceiveBudget } from './receive-budget.js';
export { acceptKey } from './handshake.js';
export { answerUpgrade, handleUpgrade, WebSocketServer } from './server.js';
export type {
  HandleUpgradeOptions,
  UpgradeAgreement,
  UpgradeHandshakeOptions,
  WebSocketServerEvents,
  WebSocketServerOptions,
} from './server.js';
export { connect } from './client.js';
export type { ConnectOptions } from './client.js';
export { HandshakeError } from './errors.js';
export type { HandshakeErrorCode } from './errors.js';
export type { PassedConnectionOptions } from './options.js';
export type { NegotiatedDeflate, PerMessageDeflateOptions } from './permessage-deflate.js';
export { adoptSocket, detachSocket, isSocketHandoffMessage, SocketHandoff, upgradeForHandoff } from './handoff.js';
export type { AdoptOptions, HandoffDetails, HandoffRequestInfo, SocketHandoffMessage, UpgradeHandoffOptions } from './handoff.js';
export { WorkerPool } from './worker-pool.js';
export { publish, publishLocal, setPublishBridge, subscriberCount } from './pubsub.js';
export type { PublishBridge, PublishData, PublishOptions } from './pubsub.js';
export type { PooledConnectionInfo, PoolWorkerModule, WorkerPoolOptions } from './worker-pool.js';
