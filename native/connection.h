// One WebSocket connection: a wslay event context on a socket fd, polled by a uv_poll_t on the environment's loop.
//
// Owns: the wslay context, the fd (closed exactly once, after the poll handle is closed), the poll handle, the
// close timer, and references to the JS callbacks. While open it holds a strong reference to its own JS object, so
// a connection nobody references keeps running until it closes; after onClose it is left to the garbage collector.
//
// wslay is driven only from Process() (poll events and deferred work). Methods called from JS, also from inside a
// callback that wslay is running, only change flags and queues and re-arm the poll handle; the context is freed
// only at the end of Process(), after wslay has returned, so nothing is ever freed under wslay's feet.
#pragma once

#include <napi.h>
#include <uv.h>
#include <wslay/wslay.h>

#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "deflate.h"
#include "uv_handle.h"
#include "utf8.h"

namespace wslay_node {

class AddonData;

class Connection : public Napi::ObjectWrap<Connection> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  explicit Connection(const Napi::CallbackInfo& info);
  ~Connection() override;

  // Runs wslay: deferred deliveries, reads, writes; then closes the connection if it is over and re-arms the poll
  // handle. `events` are UV_READABLE/UV_WRITABLE bits from the poll handle, or 0 for deferred work.
  void Process(int events);
  // Environment teardown: release everything without calling JS.
  void Abandon();

  bool defer_pending = false;  // listed in AddonData's deferred work

 private:
  enum class State : uint8_t { kPending, kOpen, kClosed };  // kPending: waiting for attach()

  // One event received while delivery was paused (stopRead inside a callback): wslay may still parse up to 4 KiB
  // it already holds, and those events wait here until startRead().
  struct HeldEvent {
    enum Kind : uint8_t { kMessage, kFrameStart, kFrameChunk, kFrameEnd } kind;
    uint8_t fin, rsv, opcode;
    uint16_t status;
    uint64_t length;
    std::vector<uint8_t> data;
  };

  // A JS source for queueFragmented(); bytes it returned beyond wslay's request wait in `rest`.
  struct FragmentSource {
    Connection* owner;
    Napi::FunctionReference fn;
    std::vector<uint8_t> rest;
    size_t rest_offset = 0;
    bool eof_after_rest = false;
    bool compress = false;  // permessage-deflate: chunks are compressed as one stream, lazily, in send order
  };

  // --- JS methods
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value QueueMsg(const Napi::CallbackInfo& info);
  Napi::Value QueueFragmented(const Napi::CallbackInfo& info);
  Napi::Value Wait(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value QueuedCount(const Napi::CallbackInfo& info);
  Napi::Value BufferedAmount(const Napi::CallbackInfo& info);
  Napi::Value ReadyState(const Napi::CallbackInfo& info);
  Napi::Value SetFlow(const Napi::CallbackInfo& info);  // start/stop read/write: (read?, write?) booleans or null
  Napi::Value Shutdown(const Napi::CallbackInfo& info);  // (read: bool, write: bool)
  Napi::Value SetCallback(const Napi::CallbackInfo& info);  // (slot index, fn | null)
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);

  bool CheckUsable(Napi::Env env);  // throws "closed" errors

  // --- wslay callbacks (static trampolines in connection.cc call these)
 public:
  ssize_t OnRecv(uint8_t* buf, size_t len);
  ssize_t OnSend(const uint8_t* data, size_t len);
  int OnGenmask(uint8_t* buf, size_t len);
  void OnFrameRecvStart(const wslay_event_on_frame_recv_start_arg* arg);
  void OnFrameRecvChunk(const wslay_event_on_frame_recv_chunk_arg* arg);
  void OnFrameRecvEnd();
  void OnMsgRecv(const wslay_event_on_msg_recv_arg* arg);
  ssize_t OnFragmentRead(FragmentSource* source, uint8_t* buf, size_t len, int* eof);

 private:
  // --- Process() steps
  void ReadPhase();
  void SendPhase();
  void SendFromRecv();
  void FlushGather();
  bool FlushBacklog();
  void DeliverHeld();
  void FinishIfOver();
  void UpdatePoll();
  void Teardown();
  void StartCloseTimer();
  void MaybeFireWaiter();

  // Failing the connection: queue a close with `code` through wslay and stop reading (wslay's own checks do the
  // same); FailRaw writes the close frame itself, for when wslay can no longer send one.
  void Fail(uint16_t code);
  void FailRaw(uint16_t code);

  // Delivery to JS, or to held_ while paused.
  void Deliver(HeldEvent::Kind kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status, uint64_t length,
               const uint8_t* data, size_t len);
  void DeliverNow(HeldEvent::Kind kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status, uint64_t length,
                  const uint8_t* data, size_t len);
  void GatherClosePayload(const uint8_t* data, size_t len);
  void InflateChunk(const uint8_t* data, size_t len, bool fin);
  void SetupDeflate(Napi::Object options);
  void FinishSource(FragmentSource* source);
  // Calls a JS callback with `this` = the connection. An exception goes to process 'uncaughtException' and an
  // empty value is returned.
  Napi::Value CallJs(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args);
  void ReportError(const Napi::Error& error);
  void OpenCallbackScope();

  bool ReadBlocked() const { return read_paused_ || !held_.empty() || pong_backpressure_; }
  bool SendBlocked() const { return write_paused_ || source_starved_; }
  bool HasUnsentBytes() const { return backlog_offset_ < backlog_.size(); }

  AddonData* data_;
  State state_ = State::kPending;
  bool server_;
  bool buffering_;
  wslay_event_context_ptr ctx_ = nullptr;
  int fd_ = -1;
  UvHandle<uv_poll_t> poll_;
  int poll_events_ = -1;  // what poll_ is armed for; -1 = stopped
  UvHandle<uv_timer_t> close_timer_;
  uint32_t close_timeout_ms_;
  napi_async_context async_context_ = nullptr;
  bool self_ref_ = false;  // holds a strong reference to its JS object while open
  bool loop_ref_ = true;   // the poll handle keeps the loop alive (ref()/unref())

  // Process() bookkeeping
  int depth_ = 0;                   // > 0 while inside Process(): teardown waits for the outermost level
  napi_callback_scope callback_scope_ = nullptr;
  bool js_failed_ = false;          // JS can no longer be called (environment terminating)
  int reads_this_event_ = 0;
  bool in_recv_ = false;            // inside wslay_event_recv()
  bool fd_readable_ = false;         // the poll said readable and no read has come up short since
  bool send_mid_frame_ = false;      // the last send stopped inside a frame: no raw close frame may follow

  // Input: bytes of the shared read buffer not yet given to wslay, then bytes kept by this connection (the
  // upgrade head and leftovers from a pause), served first.
  const uint8_t* in_cur_ = nullptr;
  const uint8_t* in_end_ = nullptr;
  std::vector<uint8_t> kept_input_;
  size_t kept_offset_ = 0;

  // Output: bytes wslay handed us that the socket did not take yet; they go out before anything else.
  std::vector<uint8_t> backlog_;
  size_t backlog_offset_ = 0;

  // Flow control
  bool read_paused_ = false;     // stopRead()
  bool write_paused_ = false;    // stopWrite()
  bool source_starved_ = false;  // a fragmented source returned no data: wait for startWrite() or new messages
  bool pong_backpressure_ = false;  // too many automatic pongs wait behind a peer that does not read
  uint32_t pings_pending_ = 0;
  uint32_t max_pending_pongs_;

  // Close state
  bool eof_ = false;
  int io_error_ = 0;
  bool fatal_ = false;           // wslay returned an error: the context can do nothing more
  bool close_requested_ = false; // close() was called
  bool close_queued_ = false;    // our close() is in wslay's queue
  uint16_t close_code_ = 0;
  std::string close_reason_;
  uint16_t fail_code_ = 0;       // the code we failed the connection with (1002, 1007, 1009, 1011)
  uint16_t recv_code_ = 0;       // the peer's close code, 1005 if its close had none, 0 if none arrived
  std::string recv_reason_;
  std::vector<uint8_t> close_payload_;  // the peer's close frame, gathered across reads (wslay checks it badly)
  uint64_t close_payload_expected_ = 0;
  bool timed_out_ = false;
  uint16_t raw_close_sent_ = 0;  // a close frame we wrote ourselves (FailRaw)

  // Limits
  uint64_t max_recv_size_;
  uint32_t max_fragments_;
  uint32_t fragments_ = 0;

  // Receiving
  uint8_t current_opcode_ = 0;   // of the frame being received
  std::deque<HeldEvent> held_;

  // permessage-deflate, when negotiated (EnableDeflate): inflating happens chunk by chunk as frames arrive, so
  // a deflate bomb stops at maxRecvSize and bad UTF-8 fails fast, with buffering on or off.
  std::unique_ptr<MessageCompressor> compressor_;
  std::unique_ptr<MessageDecompressor> decompressor_;
  uint32_t deflate_threshold_ = 0;
  uint32_t lazy_compressed_pending_ = 0;  // compressed fragmented messages not finished: queueMsg must not compress
  bool frame_fin_ = false;
  bool message_compressed_ = false;
  bool message_text_ = false;
  std::vector<uint8_t> inflated_;
  Utf8Validator inflated_utf8_;

  // Sending
  std::list<FragmentSource> sources_;

  // JS callbacks, indexed by the slot numbers SetCallback takes.
  enum Slot { kOnMsgRecv, kOnClose, kGenmask, kOnFrameRecvStart, kOnFrameRecvChunk, kOnFrameRecvEnd, kSlotCount };
  Napi::FunctionReference callbacks_[kSlotCount];
  Napi::FunctionReference waiter_;
  bool waiter_needs_turn_ = false;
};

}  // namespace wslay_node
