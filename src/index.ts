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
