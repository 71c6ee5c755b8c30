// What one Node environment (the main thread or one worker) shares among its connections: the loop, the thread's
// buffers, deferred work, and its connections by number (for the hot path and for teardown when the environment
// exits).
#pragma once

#include <napi.h>
#include <uv.h>

#include <functional>
#include <queue>
#include <vector>

#include "pubsub.h"
#include "thread_buffers.h"
#include "uv_handle.h"

namespace wslay_node {

class Connection;

class AddonData {
 public:
  explicit AddonData(Napi::Env env);
  ~AddonData();

  uv_loop_t* loop() const { return loop_; }
  ThreadBuffers buffers;
  PubSubThread pubsub{this};  // this thread's topics and inbox (pubsub.h)

  // Runs `connection->Process(0)` on a later loop turn (pending input after a resume, a waiter on an empty queue,
  // close() or shutdown with nothing to poll for).
  void Defer(Connection* connection);
  void CancelDeferred(Connection* connection);

  // No poll churn: a connection that got output outside its own event (queueMsg from a timer, another connection's
  // callback, a publish) is listed once, and one uv_prepare_t flushes every listed connection once per loop
  // iteration, just before the loop polls: all queueMsg calls of one tick leave corked, in one write per connection.
  // The writable poll is armed only when a write could not take everything. Listed by number, like deferred work,
  // so a connection closed or collected meanwhile is simply not found.
  void MarkDirty(Connection* connection);

  // Received messages up to kPooledMax bytes are copied into a shared slab ArrayBuffer and handed to JS as
  // (arrayBuffer, offset, length), which JS wraps in a Buffer view: one ArrayBuffer per message (node::Buffer::Copy)
  // was a fifth of the per-message cost. As with Node's own Buffer pool, a retained message keeps its slab alive.
  // Larger messages get an ArrayBuffer of their own. Returns false if no ArrayBuffer could be made.
  // Larger messages get a Buffer of their own, made uninitialised (napi_create_buffer) and filled once: a zero-filled
  // ArrayBuffer cost a second pass over every large message. `*offset` is then kOwnBuffer.
  // `cache` (the caller's, for the values of one event's handle scope) saves looking up the current slab again.
  static constexpr size_t kSlabSize = 64 * 1024;
  static constexpr size_t kPooledMax = 4 * 1024;
  static constexpr int32_t kOwnBuffer = -1;
  struct SlabCache {
    napi_value value = nullptr;
    uint32_t generation = 0;
  };
  bool CopyToJs(napi_env env, const uint8_t* data, size_t len, napi_value* bytes, int32_t* offset, SlabCache* cache);
  // Where a message's offset, length and meta (rsv | opcode << 3 | status << 7) travel to JS: an Int32Array over
  // this memory (exported as deliveryInfo), read by deliverMessage before it calls the user, instead of three
  // numbers made per message. The memory is ours, so nothing JS does to the array can make a write land elsewhere.
  //
  // Batched delivery (Connection::FlushMessages) uses the slots after those: a stop flag the connection sets when a
  // callback changed what delivery does (stopRead, close, terminate, the reader gone), the count the JS loop
  // reached, then per batched message (offset, length, meta), all in one slab. A callback may run another
  // connection's batch: its entries go after those of the batches being delivered (batch_top), up to kBatchLevels.
  static constexpr int kBatchStop = 3;
  static constexpr int kBatchDone = 4;
  static constexpr uint32_t kBatchEntries = 5;
  static constexpr uint32_t kBatchMax = 64;
  static constexpr uint32_t kBatchLevels = 4;
  static constexpr uint32_t kDeliveryInfoSize = kBatchEntries + 3 * kBatchMax * kBatchLevels;
  int32_t delivery_info[kDeliveryInfoSize] = {};
  uint32_t batch_top = kBatchEntries;  // the first entry slot that no batch being delivered holds
  // Whether a message of `len` bytes goes into the current slab (no new slab, so a batch shares one ArrayBuffer).
  bool SlabHasRoom(size_t len) const { return slab_ != nullptr && len <= kPooledMax && slab_used_ + len <= kSlabSize; }
  // worker_threads.markAsUntransferable, set from JS at load: each slab is marked, so no postMessage transfer can
  // detach it while we still write into it (Node's own Buffer pool is marked the same way). Without it, no slab.
  Napi::FunctionReference mark_untransferable;
  // Callbacks that are the same function on every connection of the thread (the JS class's deliverMessage and
  // deliverClose), by Connection slot, set once at load (setSharedCallback): a connection given `true` for a slot
  // calls this one and holds no reference of its own (a reference is ~100 bytes per connection).
  static constexpr uint32_t kSharedSlots = 8;
  static constexpr uint32_t kBatchSlot = 7;  // the JS loop over a batch (deliverBatch), in the slot no callback uses
  Napi::FunctionReference shared_callbacks[kSharedSlots];
  // Tests only (the addon's _injectArgumentFailures): the next this many callbacks of the thread find one of their
  // arguments missing, as when memory for it runs out.
  uint32_t injected_argument_failures = 0;

  // Connections by a small number, the handle JS passes to the hot path (queueMsg) instead of the object, which
  // would cost a napi_unwrap per call; deferred work is listed by number too. A slot is freed when its connection
  // is destroyed; an unknown number is simply not found, so a number can never reach freed memory.
  uint32_t Register(Connection* connection);
  void Unregister(uint32_t id);
  Connection* Find(uint32_t id) const { return id < by_id_.size() ? by_id_[id] : nullptr; }

  // The thread's one timer list for idleTimeout, automatic pings and maxLifetime: entries (deadline in uv_now()
  // milliseconds, connection number, sequence) in a min-heap, driven by one uv_timer_t armed for the earliest.
  // Returns the entry's sequence; at its deadline the connection's OnTimer(seq) runs. An entry whose connection is
  // gone (or has scheduled another since: a different seq) is dropped when it comes up, so the list holds at most
  // one entry per open connection plus those of connections closed within their last deadline.
  uint64_t ScheduleTimer(uint32_t id, uint64_t due);
  size_t timer_entries() const { return timers_.size(); }

  // Every quiet_tick_ms the thread's open connections are offered Session::ReleaseIfQuiet(): one that was quiet for
  // a whole tick gives its wslay context back. One unref'd timer, running while the thread has connections.
  static constexpr uint64_t kQuietTickMs = 1000;
  void SetQuietTick(uint64_t ms);  // tests: a shorter tick

 private:
  static void OnIdle(uv_idle_t* idle);
  static void OnPrepare(uv_prepare_t* prepare);
  static void OnTimer(uv_timer_t* timer);
  void ArmTimer();
  void StartQuietTicks();
  static void OnQuietTick(uv_timer_t* timer);
  static void OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg);
  static void OnAllHandlesClosed();
  // Connections still open when their thread ends: peers get a close frame (1011) where one can be written.
  void AbandonAll();

  uv_loop_t* loop_ = nullptr;
  UvHandle<uv_idle_t> idle_;
  std::vector<uint32_t> deferred_;  // connection numbers
  UvHandle<uv_prepare_t> flush_;
  std::vector<uint32_t> dirty_;     // connection numbers, each at most once (Connection::flush_pending)
  bool flushing_ = false;           // inside OnPrepare
  struct TimerEntry {
    uint64_t due;
    uint64_t seq;
    uint32_t id;
    bool operator>(const TimerEntry& o) const { return due > o.due; }
  };
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timers_;
  UvHandle<uv_timer_t> timer_;
  uint64_t timer_armed_for_ = 0;  // the deadline timer_ is armed for; 0 = not armed
  uint64_t next_timer_seq_ = 1;
  UvHandle<uv_timer_t> quiet_timer_;
  uint64_t quiet_tick_ms_ = kQuietTickMs;
  std::vector<Connection*> by_id_;
  std::vector<uint32_t> free_ids_;
  napi_ref slab_ = nullptr;
  uint8_t* slab_base_ = nullptr;
  size_t slab_used_ = kSlabSize;
  uint32_t slab_generation_ = 1;  // changes with each new slab (SlabCache)
  napi_env env_;
  napi_async_cleanup_hook_handle cleanup_hook_ = nullptr;  // until the hook has run and been removed
};

}  // namespace wslay_node
