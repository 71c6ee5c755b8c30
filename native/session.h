// One WebSocket session: a wslay event context on a socket fd, plus what the binding adds to wslay:
//   - reads through the thread's shared buffer, writes gathered into one syscall per event;
//   - close() after the send queue drains (wslay alone sends the close first and drops the rest);
//   - our own checks of received close frames (wslay 1.1.1 rejects 1012–1014, accepts a 1-byte body and checks a
//     reason split across reads from the wrong offset), fragment and pong limits, send backpressure;
//   - received data messages assembled by us in one buffer (wslay runs without buffering), charged to the thread's
//     receive budget, with messageTimeout; control frames handed to wslay whole (frame_cursor.h);
//   - on a server (unless plain_wslay), the receive fast path: data-frame payload unmasked word-wide by us, wslay
//     handed each such header as a zero-length frame (frame_scanner.h), and plain text's UTF-8 checked by us then;
//   - permessage-deflate (RFC 7692) in both directions;
//   - events held while delivery is paused, so stopRead() takes effect at once.
// No Node and no libuv here: the host (Connection, or the fuzzer) polls the fd or feeds the stream, calls Step(), and
// receives events through SessionHost. Owns the wslay context and the transport (transport.h); Close() frees both.
#pragma once

#include <wslay/wslay.h>

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "deflate.h"
#include "frame_writer.h"
#include "message_buffer.h"
#include "frame_cursor.h"
#include "frame_scanner.h"
#include "thread_buffers.h"
#include "transport.h"
#include "utf8.h"

namespace wslay_node {

struct SessionConfig {
  bool server = true;
  bool buffering = true;
  // Every frame through wslay's own parser and send queue: the binding's fast paths around wslay are off.
  bool plain_wslay = false;
  uint64_t max_recv_size = uint64_t{1} << 26;
  uint32_t max_fragments = 1u << 17;
  uint32_t max_pending_pongs = 1024;
  uint8_t allowed_rsv = 0;          // RSV bits the peer may set for an extension negotiated by the user
  uint64_t max_backpressure = 0;    // queued bytes above which Queue() refuses; 0 = no limit
  bool deflate = false;             // permessage-deflate negotiated: run it natively
  DeflateParams deflate_params;
  uint64_t deflate_threshold = 1024;  // messages shorter than this go uncompressed; UINT64_MAX: never compress
};

// What a fragmented source returned; `data` stays valid until the next call into the host.
struct FragmentChunk {
  enum Status { kEof = 0, kData = 1, kError = -1 };
  Status status;
  const uint8_t* data;
  size_t len;
};

// Receives a session's events. Every call comes from inside Session::Step(), often from inside wslay.
class SessionHost {
 public:
  enum Event { kMessage, kFrameStart, kFrameChunk, kFrameEnd };
  virtual ~SessionHost() = default;
  // Whether anyone listens to `event`: no copy is made for events nobody wants.
  virtual bool Wants(Event event) = 0;
  virtual void OnMessage(uint8_t rsv, uint8_t opcode, const uint8_t* data, size_t len, uint16_t status) = 0;
  virtual void OnFrameStart(bool fin, uint8_t rsv, uint8_t opcode, uint64_t length) = 0;
  virtual void OnFrameChunk(const uint8_t* data, size_t len) = 0;
  virtual void OnFrameEnd() = 0;
  // Client masking keys: 1 = filled by the host, 0 = use the CSPRNG, -1 = failed.
  virtual int CustomMask(uint8_t* buf, size_t len) = 0;
  // CustomMask runs a user's callback (script): then data frames are left to wslay, which asks for each key while
  // it sends, never from inside a queueMsg call.
  virtual bool MaskIsScripted() { return false; }
  virtual FragmentChunk ReadFragment(void* token, size_t len) = 0;
  virtual void ReleaseFragment(void* token) = 0;
  // False once the host can run no more callbacks (its environment is going away).
  virtual bool CanDeliver() = 0;
  // The session has work without any fd readiness (another connection's budget check failed it): Step() it on a
  // later turn.
  virtual void Wake() {}
  // Batched delivery: while Session::MayBatch() the host may keep the messages OnMessage gives it and deliver them
  // later, in order; it must deliver them all when this is called. The session calls it before anything that
  // delivered messages must come before: a frame wslay judges, a read, a failure, any other event, the read's end.
  virtual void FlushMessages() {}
};

// kNeedsOwnFrame: from QueueShared only (frame_writer.h): queue the uncompressed payload with Queue() instead.
enum class QueueResult { kOk, kClosing, kInvalidRsv, kNoMemory, kBackpressure, kCompressFailed, kNeedsOwnFrame };

// How a session ended, for onClose.
struct CloseReport {
  uint16_t code;         // the peer's code (1005: none), the code we failed with, or 1006
  std::string reason;    // the peer's reason
  bool was_clean;        // a close frame went each way and the socket had no error
  uint16_t sent_code;    // the code of the close frame we sent; 0 if none
  size_t unsent_messages;
  size_t unsent_bytes;
  int error;             // errno that ended it, or 0
  bool timed_out;
};

class Session : private BudgetHolder {
 public:
  static constexpr int kReadable = 1;  // the same bits as UV_READABLE / UV_WRITABLE
  static constexpr int kWritable = 2;

  Session(const SessionConfig& config, ThreadBuffers* buffers, SessionHost* host);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Alive: with a wslay context, or dormant (see ReleaseIfQuiet) and given a new one when needed.
  bool ok() const { return ctx_ != nullptr || dormant_; }
  // The host's periodic tick. The wslay context (two fixed 4 KiB buffers) is allocated only while something is in
  // flight: a session that did nothing since the last tick and is quiet (Quiet()) frees it here and becomes
  // dormant; the next byte in or message out creates a new one, configured as the first. Sessions start dormant.
  // Returns true if the context was freed.
  bool ReleaseIfQuiet();
  // The transport (an fd already non-blocking, or a stream) and bytes read past the handshake, fed to wslay first.
  void Attach(std::unique_ptr<Transport> transport, const uint8_t* head, size_t head_len);
  bool attached() const { return transport_ != nullptr; }

  // One event: held deliveries, then reading (when `readable` or input is kept), then writing.
  // `writable`: the transport may take bytes again after it took a write only in part (false while a stream
  // transport is still full).
  void Step(bool readable, bool writable = true);

  // A data message is framed into the session's output directly when wslay has nothing queued or half-sent (not
  // on the plain path); anything else goes through wslay's queue. Either way the wire order is the queue order.
  QueueResult Queue(uint8_t opcode, const uint8_t* data, size_t len, uint8_t rsv);
  // One frame built once for many sessions (pub/sub); the contract is in frame_writer.h.
  QueueResult QueueShared(const std::shared_ptr<const SharedFrame>& frame);
  // Output queued outside Step() (direct frames from queueMsg outside this connection's event) that no write has
  // been tried for yet: the host flushes it once per loop iteration (FlushOutput), so calls in one tick are corked.
  bool OutputWaiting() const { return HasUnsentBytes() && !write_blocked_ && !stepping_; }
  // A write was cut short: nothing more is tried until the transport is writable again (the poll says so).
  bool WriteBlocked() const { return write_blocked_; }
  // Writes the output (never wslay's queue): what the transport takes now; the rest waits for writable.
  void FlushOutput();
  // wslay has something to send (its queue, a fragmented source): only a Step() sends that.
  bool WslayWantsWrite() const { return ctx_ != nullptr && wslay_event_want_write(ctx_); }
  QueueResult QueueFragmented(void* token, uint8_t opcode, uint8_t rsv);
  // A published message this session frames itself (pubsub.cc; shared frames go through QueueShared): compressed
  // as Queue() does if `compress`, else never compressed (publish's compress: false).
  QueueResult QueuePublished(uint8_t opcode, const uint8_t* data, size_t len, bool compress);
  // Compresses without context takeover (each message alone), so a message deflated once for every such subscriber
  // with the same parameters is what this session's own compressor would send.
  bool SharesCompressor() const {
    return compressor_ && config_.deflate_params.compressNoContextTakeover && !config_.plain_wslay;
  }
  const SessionConfig& config() const { return config_; }
  // Queues a close frame once everything queued before it is written. Returns false if close was already asked.
  bool RequestClose(uint16_t code, const std::string& reason);
  void SetReadPaused(bool paused);
  // No callback takes received messages yet: reading waits (like a pause) so nothing is dropped.
  void SetNoReader(bool none);
  // terminate(): ends at once, no closing handshake, the queue dropped (reported unsent); code 1006.
  void Terminate() {
    terminated_ = true;
    fatal_ = true;
  }
  // queueMsg refused because the connection is closing: counted with the unsent messages of the CloseReport.
  void CountRefused(size_t len) {
    ++refused_messages_;
    refused_bytes_ += len;
  }
  // Received bytes so far (idleTimeout watches it change).
  uint64_t bytes_received() const { return bytes_received_; }
  void SetWritePaused(bool paused);
  void ShutdownRead();
  void ShutdownWrite();
  void SetTimedOut() { timed_out_ = true; }
  void SetIoError(int error);
  void Abort() { fatal_ = true; }
  // The host could not deliver an event (no memory for a callback argument): fail the connection with `code`, as
  // our own checks do (a close frame after what was queued, no more reading). Also from inside an event.
  void FailByHost(uint16_t code) {
    if (!fatal_ && Wake()) Fail(code);
  }

  // State after Step().
  bool IsOver() const;
  bool IsClosing() const;
  int WantedEvents() const;      // kReadable / kWritable for the poll handle
  bool HasPendingInput() const;  // held events or kept bytes that need a Step() without fd readiness
  bool SendQueueEmpty() const;
  size_t QueuedCount() const;
  size_t BufferedAmount() const;
  // A data message has begun and not ended while the connection still reads and reading is not paused (for
  // messageTimeout); `message_seq()` tells one message from the next.
  bool ReceivingMessage() const;
  uint32_t message_seq() const { return message_seq_; }
  // messageTimeout passed: fails the connection (1008) if a message is still incomplete.
  void FailIncompleteMessage();

  CloseReport Report() const;
  // Events held by a pause arrived before whatever ended the session: they outlive Close(), and the host delivers
  // them (DeliverHeld, which stops while reading is paused) before it reports the end.
  bool HasHeldEvents() const { return HasHeld(); }
  void DeliverHeld();
  // Inside a read, for a data message whose last frame took the receive fast path: the host may batch it
  // (SessionHost::FlushMessages), since only the binding judged its frames and nothing wslay judges comes before
  // the next flush.
  bool MayBatch() const { return in_recv_ && last_frame_fast_; }
  // A batched message its callback did not reach (a callback paused, closed, terminated or threw): handled as a
  // message arriving now: dropped if nobody takes messages any more (as OnMsgRecv does), else held, dropped or
  // delivered as Deliver decides.
  void Redeliver(uint8_t rsv, uint8_t opcode, uint16_t status, const uint8_t* data, size_t len) {
    if (host_->Wants(SessionHost::kMessage)) Deliver(SessionHost::kMessage, 1, rsv, opcode, status, len, data, len);
  }
  // At environment teardown: a best-effort close frame (between frames only), then Close().
  void SayGoingAway(uint16_t code);
  // Frees the wslay context and the transport, closing an fd (the host stops polling it first). Held events stay.
  void Close();

  // wslay callbacks (the static trampolines in session.cc call these).
  ssize_t OnRecv(uint8_t* buf, size_t len);
  ssize_t OnSend(const uint8_t* data, size_t len);
  int OnGenmask(uint8_t* buf, size_t len);
  void OnFrameRecvStart(const wslay_event_on_frame_recv_start_arg* arg);
  void OnFrameRecvChunk(const wslay_event_on_frame_recv_chunk_arg* arg);
  void OnFrameRecvEnd();
  void OnMsgRecv(const wslay_event_on_msg_recv_arg* arg);

  struct FragmentSource;
  ssize_t OnFragmentRead(FragmentSource* source, uint8_t* buf, size_t len, int* eof);
  // A buffer could not grow (std::bad_alloc inside a wslay callback): fail the connection with 1011.
  void OnOutOfMemory();

 private:
  // An event received while delivery was paused (stopRead inside a callback): wslay may still parse up to 4 KiB
  // it already holds; those events wait here until delivery resumes.
  struct HeldEvent {
    SessionHost::Event kind;
    uint8_t fin, rsv, opcode;
    uint16_t status;
    uint64_t length;
    std::vector<uint8_t> data;
  };

  // The wslay context's life (session_quiet.cc): CreateContext makes and configures one; Wake gives a dormant
  // session a new one (false if it is closed, or no memory: then it ends with ENOMEM); Quiet says whether the
  // context holds nothing that matters: no partial frame or message, nothing queued or half-sent, no close.
  bool CreateContext();
  void FreeContext();
  bool Wake();
  bool Quiet() const;

  void ReadPhase();
  void SendPhase();
  void SendFromRecv();
  // Has the host deliver the messages it batched, then hands wslay what their callbacks queued (as SendFromRecv
  // after each message).
  void FlushBatch();
  void FlushGather();
  void TrackSent(const uint8_t* data, size_t len);
  bool FlushBacklog();
  void Deliver(SessionHost::Event kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status, uint64_t length,
               const uint8_t* data, size_t len);
  void DeliverNow(SessionHost::Event kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status,
                  uint64_t length, const uint8_t* data, size_t len);
  void GatherClosePayload(const uint8_t* data, size_t len);
  void InflateChunk(const uint8_t* data, size_t len, bool fin);
  // Appends to the message being assembled; false if that failed the connection (1008 over the thread's budget,
  // 1009 out of memory).
  bool AppendToMessage(const uint8_t* data, size_t len, uint64_t coming);
  void ReleaseMessage();
  void EvictForBudget() override;
  // Hands wslay the next of the `avail` bytes at `src`: returns how many were written to `buf`, and sets `*used` to
  // how many of `src` were consumed (more than written when the fast path took a payload). `in_place`: `src` stays
  // valid until wslay's callbacks for what was handed have run (the shared read buffer), so a one-frame message
  // may be delivered from there.
  size_t HandToWslay(uint8_t* src, size_t avail, uint8_t* buf, size_t len, bool in_place, size_t* used);
  // The receive fast path (frame_scanner.h): wslay gets fast frames' headers with no payload; the payload is ours.
  size_t ScanToWslay(uint8_t* src, size_t avail, uint8_t* buf, size_t len, bool in_place, size_t* used);
  bool BeginFastFrame(const FrameHeader& header);
  bool TakeFastPayload(uint8_t* src, size_t n, bool in_place);
  bool EndFastFrame();
  // Fails the connection as wslay does on a payload it checks itself (plain text's UTF-8): its close, no more reading.
  void FailAsWslay(uint16_t code);
  void FinishSource(FragmentSource* source);
  // Failing the connection: Fail queues a close through wslay and stops reading, as wslay's own checks do;
  // FailRaw writes the close frame itself, for when wslay can no longer send one.
  void Fail(uint16_t code);
  void FailRaw(uint16_t code);
  // A client that failed the connection waits for the server's close and its end of TCP (RFC 6455 §7.1.1: the
  // server closes first), so the closing handshake can complete. wslay reads no more by then: the frames are
  // followed (received_frames_) and skipped until a close frame has gone by.
  bool AwaitingCloseReply() const;
  void ReadCloseReply(bool readable);
  void SkipReceived(const uint8_t* data, size_t len);

  bool HasHeld() const { return held_head_ < held_.size(); }
  // After close() reading goes on while paused, for the peer's close; what arrives meanwhile is not delivered.
  bool ReadBlocked() const { return terminated_ || ((read_paused_ || HasHeld()) && !close_requested_) || PongBackpressure(); }
  bool DiscardingInput() const { return read_paused_ && close_requested_; }
  // Too many pongs wait unwritten behind a peer that does not read: stop reading until some are out.
  bool PongBackpressure() const { return pongs_unsent_ >= config_.max_pending_pongs; }
  bool SendBlocked() const { return write_paused_; }
  bool HasUnsentBytes() const { return !output_.empty(); }
  // Nothing of wslay's queued or half-sent, no close on its way, writing not paused: a data frame may be framed
  // into the output directly (not on the plain path).
  bool CanFrameDirectly(uint8_t opcode, uint8_t rsv) const;
  // The part of Queue() after compression: framed directly, or queued in wslay.
  QueueResult QueueFramed(uint8_t opcode, const uint8_t* data, size_t len, uint8_t rsv);
  void FrameDirectly(uint8_t opcode, const uint8_t* data, size_t len, uint8_t rsv, const uint8_t* mask);
  // The tail of the output during Step() is the thread's gather buffer: `n` more bytes of it, after the output.
  void WriteGatheredThen(const struct iovec* extra, size_t n);

  const SessionConfig config_;
  ThreadBuffers* buffers_;
  SessionHost* host_;
  wslay_event_context_ptr ctx_ = nullptr;
  bool dormant_ = true;   // no context now (a quiet session, or none needed yet); not closed
  bool active_ = false;   // stepped or queued to since the last ReleaseIfQuiet tick
  std::unique_ptr<Transport> transport_;

  // Step() bookkeeping
  bool in_recv_ = false;         // inside wslay_event_recv()
  bool fd_readable_ = false;     // the poll said readable and no read has come up short since
  int reads_this_step_ = 0;
  bool send_mid_frame_ = false;  // the last send stopped inside a frame: no raw close frame may follow
  // The transport took a write only in part: wslay is told to wait until it is writable again, so no frame's last
  // bytes are gathered (and counted as sent by wslay) behind a full transport.
  bool write_blocked_ = false;
  const uint8_t allowed_rsv_;  // the RSV bits wslay lets us send (it masks them to RSV1)

  // Input: bytes of the shared read buffer not yet given to wslay, then bytes kept by this session (the upgrade
  // head and leftovers from a pause), served first.
  uint8_t* in_cur_ = nullptr;  // writable: the fast path unmasks a whole frame where it lies
  uint8_t* in_end_ = nullptr;
  std::vector<uint8_t> kept_input_;
  size_t kept_offset_ = 0;
  // Where frames begin in what wslay got (on a client, then in what is skipped after wslay stopped reading), and the
  // start of a control frame that has not arrived whole: it waits here and goes to wslay with the socket's next
  // bytes, in one piece.
  FrameCursor received_frames_;
  std::vector<uint8_t> carry_;
  // The receive fast path: on a server unless plain_wslay. The scanner follows every frame in place of
  // received_frames_; fast text messages' UTF-8 is checked here (wslay sees none of their bytes).
  const bool scan_;
  FrameScanner scanner_;
  Utf8Validator fast_text_utf8_;
  bool fast_frame_handed_ = false;  // wslay is about to report the zero-length header of a fast frame
  bool last_frame_fast_ = false;    // the frame wslay reported last was a fast frame
  bool batch_pending_ = false;      // the host may hold batched messages (FlushBatch)
  size_t recv_window_left_ = 0;     // bytes left of the window wslay would hold on the plain path (ScanToWslay)
  bool scan_blocked_ = false;       // the scan stopped at the end of a window while reading is paused

  // Output, in wire order: bytes wslay handed us that the socket did not take yet, frames we framed ourselves and
  // shared frames (frame_writer.h). Inside Step() the thread's gather buffer follows it.
  OutputQueue output_;
  bool stepping_ = false;  // inside Step(): the gather buffer is this session's
  // What wslay hands us, frame by frame (TrackSent): wslay says nothing about the pongs it queues and sends by
  // itself, so the frame boundaries of its output tell us when a pong has left.
  FrameCursor sent_frames_;

  // Flow control
  bool read_paused_ = false;      // user_read_paused_ || no_reader_
  bool user_read_paused_ = false;  // stopRead()
  bool no_reader_ = false;
  bool write_paused_ = false;
  bool read_shut_ = false;          // shutdownRead(): not a sign of closing
  // A fragmented source returned no data: it is not asked again until startWrite() or a new message, but control
  // frames (pongs, a close) still go out between its frames.
  bool source_starved_ = false;
  uint32_t pongs_unsent_ = 0;       // pongs queued (wslay's answers to pings, and ours) whose frames are not out yet

  // Close state
  bool eof_ = false;
  int io_error_ = 0;
  bool fatal_ = false;            // wslay returned an error, or the host aborted: nothing more can happen
  bool timed_out_ = false;
  bool terminated_ = false;
  size_t refused_messages_ = 0;
  size_t refused_bytes_ = 0;
  uint64_t bytes_received_ = 0;
  bool recv_failed_ = false;      // wslay_event_recv returned an error
  bool close_requested_ = false;  // close() was called
  bool close_queued_ = false;     // a close frame is in wslay's queue (ours, an echo, or a failure)
  uint16_t close_code_ = 0;
  std::string close_reason_;
  uint16_t fail_code_ = 0;        // the code we failed the connection with
  uint16_t raw_close_sent_ = 0;   // a close frame we wrote ourselves (FailRaw)
  uint16_t recv_code_ = 0;        // the peer's close code, 1005 if it had none, 0 if none arrived
  bool close_reply_seen_ = false;  // a client: a close frame arrived after wslay had stopped reading
  std::string recv_reason_;
  std::vector<uint8_t> close_payload_;
  uint64_t close_payload_expected_ = 0;

  // Receiving. wslay runs without buffering: data messages are assembled here (control frames stay wslay's).
  uint8_t current_opcode_ = 0;  // of the frame being received
  uint32_t fragments_ = 0;
  bool frame_fin_ = false;
  bool message_text_ = false;
  bool message_compressed_ = false;
  bool in_message_ = false;      // a data message has begun and not ended
  uint32_t message_seq_ = 0;
  uint64_t frame_length_ = 0;    // the data frame's declared payload length
  uint64_t frame_left_ = 0;      // of which not received yet
  uint64_t message_inflated_ = 0;      // inflated bytes of the compressed message so far
  uint64_t frame_inflated_start_ = 0;  // message_inflated_ when the frame began (the per-frame limit)
  MessageBuffer message_;        // the message so far, when buffering (plain or inflated bytes)
  const uint8_t* whole_ = nullptr;  // a one-frame message that arrived in one chunk: delivered from wslay's buffer
  size_t whole_len_ = 0;
  Utf8Validator inflated_utf8_;
  std::vector<HeldEvent> held_;  // a vector, not a deque: an empty deque still allocates ~600 bytes
  size_t held_head_ = 0;

  // Sending
  std::list<FragmentSource> sources_;
  std::unique_ptr<MessageCompressor> compressor_;
  std::unique_ptr<MessageDecompressor> decompressor_;
  uint32_t lazy_compressed_pending_ = 0;  // compressed fragmented messages not finished: Queue must not compress
};

}  // namespace wslay_node
