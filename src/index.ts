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
export { getReceiveBudget, setReceiveBudget } from './receive-budget.js';
export type { ReceiveBudget } from './receive-budget.js';
export { FragmentedStatus, isValidCloseCode, Opcode, RSV1, RSV2, RSV3 } from './constants.js';
export { acceptKey } from './handshake.js';
export { answerUpgrade, handleUpgrade, WebSocketServer } from './server.js';
export type {
  HandleUpgradeOptions,
  UpgradeAgreement,
  UpgradeHandshakeOptions,
  WebSocketServerOptions,
} from './server.js';
export { connect } from './client.js';
export type { ConnectOptions } from './client.js';
export { HandshakeError } from './errors.js';
export type { HandshakeErrorCode } from './errors.js';
export type { NegotiatedDeflate, PerMessageDeflateOptions } from './permessage-deflate.js';
export { adoptSocket, detachSocket, isSocketHandoffMessage, SocketHandoff, upgradeForHandoff } from './handoff.js';
export type { AdoptOptions, HandoffDetails, HandoffRequestInfo, SocketHandoffMessage, UpgradeHandoffOptions } from './handoff.js';
export { WorkerPool } from './worker-pool.js';
export type { PooledConnectionInfo, PoolWorkerModule, WorkerPoolOptions } from './worker-pool.js';
