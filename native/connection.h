// The JS class over one Session (native/session.h): NativeConnection, extended by WebSocketConnection in
// src/connection.ts. Owns the Session, the uv_poll_t on its fd, the close timer, and references to the JS callbacks.
// While open it holds a strong reference to its own JS object, so a connection nobody references keeps running
// until it closes; after onClose it is left to the garbage collector.
//
// The session is driven only from Process() (poll events, the close timer, deferred work). Methods called from JS,
// also from inside a callback the session is running, only change flags and queues; the session is closed only at
// the end of Process(), after wslay has returned, so nothing is freed under wslay's feet.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "addon_data.h"
#include "session.h"
#include "uv_handle.h"

namespace wslay_node {

// A string's UTF-8 bytes (encoded into `storage`), or the bytes of a Buffer, TypedArray, DataView or ArrayBuffer.
bool GetString(napi_env env, napi_value value, std::string* storage, const uint8_t** data, size_t* len);
bool GetBytes(Napi::Env env, Napi::Value value, std::string* storage, const uint8_t** data, size_t* len);

class AddonData;
class PublishedFrame;

class Connection : public Napi::ObjectWrap<Connection>, public SessionHost {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit Connection(const Napi::CallbackInfo& info);
  ~Connection() override;

  // Steps the session for poll `events` (UV_READABLE/UV_WRITABLE bits; 0 for a timer or deferred work), then ends
  // the connection if it is over, or re-arms the poll handle.
  void Process(int events);
  // Environment teardown: no more JS; peers get a close frame (1011) where one can still be written.
  void Abandon(bool say_going_away);

  bool defer_pending = false;  // listed in AddonData's deferred work
  // Output queued from outside this connection's own event, written once per loop iteration (AddonData::MarkDirty):
  // the session's output goes out in one write; what wslay holds, a waiter or onDrain takes a whole Process().
  void FlushQueued();
  bool flush_pending = false;  // listed in AddonData's dirty list
  uint32_t id() const { return id_; }
  // The thread's timer list (AddonData::ScheduleTimer) reached this connection's entry `seq`: idleTimeout,
  // automatic pings and maxLifetime are checked, then the next entry is scheduled.
  void OnTimer(uint64_t seq, uint64_t now);
  // The thread's quiet tick (AddonData): a quiet session frees its wslay context until it is needed again.
  void ReleaseIfQuiet() {
    if (!closed_ && depth_ == 0) session_->ReleaseIfQuiet();
  }

  // SessionHost
  bool Wants(Event event) override;
  void OnMessage(uint8_t rsv, uint8_t opcode, const uint8_t* data, size_t len, uint16_t status) override;
  void OnFrameStart(bool fin, uint8_t rsv, uint8_t opcode, uint64_t length) override;
  void OnFrameChunk(const uint8_t* data, size_t len) override;
  void OnFrameEnd() override;
  int CustomMask(uint8_t* buf, size_t len) override;
  bool MaskIsScripted() override { return !callbacks_[kGenmask].IsEmpty(); }
  FragmentChunk ReadFragment(void* token, size_t len) override;
  void ReleaseFragment(void* token) override;
  bool CanDeliver() override { return !js_failed_; }
  void Wake() override;
  void FlushMessages() override;  // connection_batch.cc

  // queueText(handle, string, flags) and queueBytes(handle, Uint8Array, flags), flags = opcode | rsv << 4: the hot
  // path of queueMsg, after src/connection.ts checked the arguments. Called with the number from _handle() instead
  // of as a method (no napi_unwrap), in plain N-API (node-addon-api's wrapping of each argument cost ~1,000
  // instructions per call). The function's data is the AddonData.
  static napi_value QueueText(napi_env env, napi_callback_info info);
  static napi_value QueueBytes(napi_env env, napi_callback_info info);
  // pub/sub (defined in pubsub.cc): queues a published message unless the connection is closing or over its
  // backpressure limit; then it misses the message (droppedMessages) or, with closeOnBackpressureLimit, is closed.
  // Runs no JS. True if queued.
  bool QueuePublished(PublishedFrame& frame);
  uint64_t dropped_messages() const { return dropped_messages_; }
  bool ended() const { return closed_; }

 private:
  // JS methods
  Napi::Value Attach(const Napi::CallbackInfo& info);
  // The stream transport (transport.h): _attachStream(head, highWaterMark, write(buf), flow(reading), end()),
  // _feed(chunk) per 'data' chunk, _feedEnd(errno, closed) for 'end'/'error'/'close', _written() per write callback.
  Napi::Value AttachStream(const Napi::CallbackInfo& info);
  Napi::Value Feed(const Napi::CallbackInfo& info);
  Napi::Value FeedEnd(const Napi::CallbackInfo& info);
  Napi::Value Written(const Napi::CallbackInfo& info);
  Napi::Value Handle(const Napi::CallbackInfo& info);
  Napi::Value QueueFragmented(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value QueuedCount(const Napi::CallbackInfo& info);
  Napi::Value BufferedAmount(const Napi::CallbackInfo& info);
  Napi::Value ReadyState(const Napi::CallbackInfo& info);
  Napi::Value SetFlow(const Napi::CallbackInfo& info);   // (read?, write?): true resumes, false pauses
  Napi::Value Shutdown(const Napi::CallbackInfo& info);  // (read: bool, write: bool)
  Napi::Value SetCallback(const Napi::CallbackInfo& info);  // (slot index, fn | undefined)
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Terminate(const Napi::CallbackInfo& info);
  Napi::Value SetReader(const Napi::CallbackInfo& info);  // (has: bool): someone takes received messages

  bool CheckOpen(Napi::Env env);
  // Attaches the session to its transport, with the bytes read past the handshake (`head`), and starts it.
  void StartSession(std::unique_ptr<Transport> transport, Napi::Value head);
  napi_value Queue(napi_env env, uint32_t flags, const uint8_t* data, size_t len);
  void ThrowQueueError(Napi::Env env, QueueResult result);
  void Finish();  // closes everything, then delivers held messages and calls onClose (both maybe later)
  void EndNow();  // closes everything and keeps the report for onClose
  void DeliverHeldThenClose();
  // Batched delivery (connection_batch.cc): OnMessage keeps a message that may be batched in the slab, its entry in
  // deliveryInfo, and returns true; FlushMessages has the JS loop (deliverBatch) call onMsgRecv for each.
  bool BatchMessage(uint8_t rsv, uint8_t opcode, const uint8_t* data, size_t len, uint16_t status);
  // Called by the methods that change what delivery does (stopRead, the reader gone, close, terminate, abort,
  // shutdownRead): the JS loop stops after the current callback and the rest goes back through the session.
  void StopBatch() {
    if (batch_flushing_) data_->delivery_info[AddonData::kBatchStop] = 1;
  }
  void Release();
  void UpdatePoll();
  // The stream transport's side of a Process(): what the session wrote goes to the stream as one Buffer.
  void FlushStream();
  void CallStream(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  void EndStream();
  void StartCloseTimer();
  void WatchMessageTime();  // messageTimeout: arms message_timer_ while a message is incomplete
  void MaybeFireWaiter();
  void MaybeFireDrain();
  // After each Process(): notes received traffic and schedules the next deadline of idleTimeout, automatic pings
  // or maxLifetime in the thread's timer list (one entry per connection; traffic only moves deadlines later, so
  // an entry that fires early just schedules the next).
  void ScheduleTimers();
  uint64_t NextDeadline() const;
  void Defer();

  // Calls a JS callback with `this` = the connection. An exception goes to process 'uncaughtException' and an
  // empty value is returned. So is an argument that could not be made (nullptr): unless the environment is
  // terminating, that is a lack of memory, and the connection is failed with `fail_code` (0: the caller fails it).
  Napi::Value CallJs(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args,
                     uint16_t fail_code = 1011);
  Napi::Value CallJs(napi_value fn, std::initializer_list<napi_value> args, uint16_t fail_code);
  // After a JS call or an N-API call that can run JS failed: the pending exception goes to 'uncaughtException' and
  // true is returned; false once the environment can run no more JS (then no more JS runs for this connection).
  bool ReportJsFailure();
  void ReportError(const Napi::Error& error);

  AddonData* data_;
  uint32_t id_;  // AddonData::Find(id_) == this until destruction
  std::unique_ptr<Session> session_;
  bool closed_ = false;
  std::unique_ptr<CloseReport> close_report_;  // closed, onClose not fired yet: held messages wait for startRead()
  UvHandle<uv_poll_t> poll_;
  int poll_events_ = -1;  // what poll_ is armed for; -1 = stopped
  UvHandle<uv_timer_t> close_timer_;
  uint32_t close_timeout_ms_ = 5000;
  // messageTimeout (0 = off): one timer per connection, armed at most once per timeout period, not per message.
  UvHandle<uv_timer_t> message_timer_;
  uint32_t message_timeout_ms_ = 0;
  uint32_t timed_message_ = 0;      // the message_seq() being timed
  uint64_t timed_since_ = 0;        // uv_now() when it was first seen incomplete
  // idleTimeout (0 = off): no bytes received for idle_ms_ → ended like terminate() (1006, timedOut). With
  // automatic pings a ping goes out after half of it; the connection ends only if nothing arrives after that.
  uint64_t idle_ms_ = 0;
  bool auto_ping_ = false;
  bool ping_outstanding_ = false;
  uint64_t lifetime_ms_ = 0;  // maxLifetime (0 = off): then close(1001)
  bool lifetime_over_ = false;
  uint64_t attached_at_ = 0;  // uv_now() at attach; 0 = not attached (no timers yet)
  uint64_t last_rx_at_ = 0;
  uint64_t seen_rx_bytes_ = 0;
  uint64_t timer_due_ = 0;    // the deadline of this connection's entry in the timer list; 0 = none
  uint64_t timer_seq_ = 0;
  // onDrain: bufferedAmount went above drain_threshold_ and has not fallen back to it yet.
  uint64_t drain_threshold_ = 0;
  bool above_drain_ = false;
  uint64_t dropped_messages_ = 0;            // published messages missed over the backpressure limit
  bool close_on_backpressure_limit_ = false;  // closeOnBackpressureLimit: close (1008) instead of dropping
  napi_async_context async_context_ = nullptr;
  napi_callback_scope callback_scope_ = nullptr;  // opened at the first JS call of a Process()
  // Values looked up once per Process() and kept in its handle scope (one per event, not one per message): this
  // object, the message callback, and the current slab (AddonData::CopyToJs). Null outside Process().
  napi_value event_self_ = nullptr;
  napi_value event_deliver_ = nullptr;  // callbacks_[kOnMsgRecv]'s function
  AddonData::SlabCache event_slab_;
  bool in_event_scope_ = false;
  bool batch_flushing_ = false;  // inside FlushMessages' JS call
  uint8_t batch_count_ = 0;      // messages batched, all in batch_slab_ (a value of Process()'s handle scope)
  uint16_t batch_base_ = 0;      // their first entry in deliveryInfo
  napi_value batch_slab_ = nullptr;
  int depth_ = 0;            // > 0 inside Process()
  bool self_ref_ = false;    // holds a strong reference to its JS object while open
  bool loop_ref_ = true;     // the handles keep the loop alive (ref()/unref())
  bool js_failed_ = false;   // the environment is terminating: no more JS
  std::string fragment_bytes_;  // the last chunk a fragmented source returned, until the session copied it
  // The stream transport, when the session has one (owned by the session; null once it is closed), and the JS
  // functions that write to, pause/resume and end its Duplex.
  StreamTransport* stream_ = nullptr;
  bool stream_reading_ = true;
  bool in_process_ = false;
  Napi::FunctionReference stream_write_, stream_flow_, stream_end_;

  enum Slot {
    kOnMsgRecv, kOnClose, kGenmask, kOnFrameRecvStart, kOnFrameRecvChunk, kOnFrameRecvEnd, kOnDrain, kSlotCount
  };
  Napi::FunctionReference callbacks_[kSlotCount];
  uint8_t shared_slots_ = 0;  // bit per slot: the thread's shared function (AddonData::shared_callbacks) instead
  const Napi::FunctionReference& Callback(Slot slot) const;
  std::vector<Napi::FunctionReference> waiters_;  // wait(cb): all of them, in order
};

}  // namespace wslay_node
