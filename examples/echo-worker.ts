// The worker side of examples/echo-server-threads.ts: WorkerPool loads this module in every worker thread, and
// each connection handed to that worker gets these options (callbacks included), on the worker's own loop.
import { Opcode, type PoolWorkerModule } from 'wslay';

export const connectionOptions: PoolWorkerModule['connectionOptions'] = {
  maxRecvSize: 64 * 1024 * 1024,
  onMsgRecv(_rsv, opcode, msg) {
    if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) this.queueMsg(msg, opcode); // echo
  },
};
