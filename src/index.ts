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
export { FragmentedStatus, isValidCloseCode, Opcode, RSV1, RSV2, RSV3 } from './constants.js';
export { acceptKey } from './handshake.js';
export { handleUpgrade, WebSocketServer } from './server.js';
export type { HandleUpgradeOptions, WebSocketServerOptions } from './server.js';
export { connect } from './client.js';
export type { ConnectOptions } from './client.js';
export { HandshakeError } from './errors.js';
export type { HandshakeErrorCode } from './errors.js';
export type { NegotiatedDeflate, PerMessageDeflateOptions } from './permessage-deflate.js';
