// Batched delivery: the messages of one read that took the receive fast path reach JS in one call (deliverBatch in
// src/connection.ts), which calls onMsgRecv for each in order. The session says when a message may wait
// (Session::MayBatch) and has the batch flushed before anything the messages must come before (SessionHost::
// FlushMessages). A callback that pauses, closes, terminates or drops the reader stops the loop (StopBatch); a
// throw ends it too. What it did not reach goes back through the session as if it arrived then: held, dropped or
// delivered, as each message would be without batching.
#include <algorithm>

#include "connection.h"

namespace wslay_node {

bool Connection::BatchMessage(uint8_t rsv, uint8_t opcode, const uint8_t* data, size_t len, uint16_t status) {
  // Only at the event's level (not from inside one of our JS calls), and only for the class's own deliverMessage,
  // whose loop deliverBatch is.
  if (!in_event_scope_ || batch_flushing_ || !((shared_slots_ >> kOnMsgRecv) & 1) ||
      data_->shared_callbacks[AddonData::kBatchSlot].IsEmpty() || len > AddonData::kPooledMax ||
      data_->mark_untransferable.IsEmpty()) {
    return false;
  }
  if (batch_count_ != 0 && !data_->SlabHasRoom(len)) {
    // One batch, one slab: the batch goes first. Its callbacks may have paused or ended delivery, so this message
    // is handled as arriving now.
    FlushMessages();
    session_->Redeliver(rsv, opcode, status, data, len);
    return true;
  }
  if (batch_count_ == 0 && data_->batch_top + 3 * AddonData::kBatchMax > AddonData::kDeliveryInfoSize) {
    return false;  // batches nested this deep (callbacks running other connections' events): one by one
  }
  napi_value bytes = nullptr;
  int32_t offset = 0;
  if (!data_->CopyToJs(Env(), data, len, &bytes, &offset, &event_slab_) || offset == AddonData::kOwnBuffer) {
    return false;  // delivered alone, which fails the connection (1009) if no memory is there
  }
  if (batch_count_ == 0) {
    batch_slab_ = bytes;
    batch_base_ = static_cast<uint16_t>(data_->batch_top);
  }
  int32_t* entry = data_->delivery_info + batch_base_ + 3 * batch_count_++;
  entry[0] = offset;
  entry[1] = static_cast<int32_t>(len);
  entry[2] = static_cast<int32_t>(static_cast<uint32_t>(rsv) | static_cast<uint32_t>(opcode) << 3 |
                                  static_cast<uint32_t>(status) << 7);
  if (batch_count_ == AddonData::kBatchMax) FlushMessages();
  return true;
}

void Connection::FlushMessages() {
  while (batch_count_ != 0 && !batch_flushing_) {
    const uint32_t count = batch_count_;
    const uint32_t base = batch_base_;
    napi_value slab = batch_slab_;
    batch_count_ = 0;
    batch_slab_ = nullptr;
    if (js_failed_) return;
    napi_env env = Env();
    int32_t* info = data_->delivery_info;
    const int32_t* entries = info + base;
    if (count == 1) {  // one message: deliverMessage, as without batching
      const Napi::FunctionReference& deliver = Callback(kOnMsgRecv);
      if (deliver.IsEmpty()) return;
      info[0] = entries[0];
      info[1] = entries[1];
      info[2] = entries[2];
      if (in_event_scope_ && event_deliver_ == nullptr) event_deliver_ = deliver.Value();
      CallJs(event_deliver_ != nullptr ? event_deliver_ : deliver.Value(), {slab}, 1009);
      continue;
    }
    const Napi::FunctionReference& loop = data_->shared_callbacks[AddonData::kBatchSlot];
    // These entries stay ours while the loop runs: a batch it runs (another connection's) takes the slots after.
    struct RestoreTop {  // also when holding the rest throws std::bad_alloc
      AddonData* data;
      uint32_t top;
      ~RestoreTop() { data->batch_top = top; }
    } restore_top{data_, data_->batch_top};
    data_->batch_top = base + 3 * count;
    const int32_t outer_stop = info[AddonData::kBatchStop];  // of a batch this one runs inside, if any
    info[AddonData::kBatchStop] = 0;
    info[AddonData::kBatchDone] = 0;
    napi_value where = nullptr;
    if (napi_create_uint32(env, base << 7 | count, &where) != napi_ok) where = nullptr;  // CallJs fails it (1009)
    batch_flushing_ = true;
    CallJs(loop.Value(), {slab, where}, 1009);
    batch_flushing_ = false;
    // The loop writes how far it got as it returns or throws (a finally block), after any inner batch.
    const int32_t reached = info[AddonData::kBatchDone];
    info[AddonData::kBatchStop] |= outer_stop;  // an inner batch's own stop only costs the outer one a round
    // 0: not run at all (no memory for its arguments: the connection failed, as for one message; or no more JS).
    if (reached > 0 && static_cast<uint32_t>(reached) < count && !closed_) {
      void* bytes = nullptr;
      size_t bytes_len = 0;
      if (napi_get_arraybuffer_info(env, slab, &bytes, &bytes_len) != napi_ok || bytes == nullptr) {
        session_->FailByHost(1011);  // the slab is gone (detached): the rest cannot be delivered
      } else {
        for (uint32_t i = static_cast<uint32_t>(reached); i < count; ++i) {
          const int32_t* e = entries + 3 * i;
          if (static_cast<size_t>(e[0]) + static_cast<size_t>(e[1]) > bytes_len) {
            session_->FailByHost(1011);
            break;
          }
          const uint32_t meta = static_cast<uint32_t>(e[2]);
          session_->Redeliver(static_cast<uint8_t>(meta & 7), static_cast<uint8_t>((meta >> 3) & 15),
                              static_cast<uint16_t>(meta >> 7), static_cast<const uint8_t*>(bytes) + e[0],
                              static_cast<size_t>(e[1]));
        }
      }
    }
  }
}

}  // namespace wslay_node
