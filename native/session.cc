#include "session.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "socket_io.h"

namespace wslay_node {

struct Session::FragmentSource {
  Session* owner;
  void* token;                 // the host's handle on the source (a JS function in Connection)
  std::vector<uint8_t> rest;   // bytes produced beyond what wslay asked for, or compressor output
  size_t rest_offset = 0;
  bool eof_after_rest = false;
  bool compress = false;       // permessage-deflate: compressed as one stream, lazily, in send order
};

namespace {

// At most this many 64 KiB reads per Step(), so one fast peer cannot starve the loop (level-triggered polling
// brings us back for the rest).
constexpr int kMaxReadsPerStep = 4;
// wslay 1.1.1's frame buffer (wslay_frame.h): what one recv callback may hand it.
constexpr size_t kWslayBufferSize = 4096;

Session* Of(void* user_data) { return static_cast<Session*>(user_data); }

// The trampolines let no exception (a std::bad_alloc while a buffer grows) unwind through wslay's C frames: the
// connection fails with 1011 instead, and the callbacks that return a status report a failure to wslay.
ssize_t RecvCallback(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, int, void* user_data) {
  try {
    return Of(user_data)->OnRecv(buf, len);
  } catch (const std::bad_alloc&) {
    Of(user_data)->OnOutOfMemory();
    wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);  // reading has stopped; the close frame goes out
    return -1;
  }
}
ssize_t SendCallback(wslay_event_context_ptr ctx, const uint8_t* data, size_t len, int, void* user_data) {
  try {
    return Of(user_data)->OnSend(data, len);
  } catch (const std::bad_alloc&) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);  // the send phase then fails the connection (1011)
    return -1;
  }
}
int GenmaskCallback(wslay_event_context_ptr ctx, uint8_t* buf, size_t len, void* user_data) {
  try {
    return Of(user_data)->OnGenmask(buf, len);
  } catch (const std::bad_alloc&) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
}
void FrameRecvStartCallback(wslay_event_context_ptr, const wslay_event_on_frame_recv_start_arg* arg,
                            void* user_data) {
  try {
    Of(user_data)->OnFrameRecvStart(arg);
  } catch (const std::bad_alloc&) {
    Of(user_data)->OnOutOfMemory();
  }
}
void FrameRecvChunkCallback(wslay_event_context_ptr, const wslay_event_on_frame_recv_chunk_arg* arg,
                            void* user_data) {
  try {
    Of(user_data)->OnFrameRecvChunk(arg);
  } catch (const std::bad_alloc&) {
    Of(user_data)->OnOutOfMemory();
  }
}
void FrameRecvEndCallback(wslay_event_context_ptr, void* user_data) {
  try {
    Of(user_data)->OnFrameRecvEnd();
  } catch (const std::bad_alloc&) {
    Of(user_data)->OnOutOfMemory();
  }
}
void MsgRecvCallback(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* user_data) {
  try {
    Of(user_data)->OnMsgRecv(arg);
  } catch (const std::bad_alloc&) {
    Of(user_data)->OnOutOfMemory();
  }
}
ssize_t FragmentReadCallback(wslay_event_context_ptr ctx, uint8_t* buf, size_t len,
                             const wslay_event_msg_source* source, int* eof, void*) {
  auto* s = static_cast<Session::FragmentSource*>(source->data);
  try {
    return s->owner->OnFragmentRead(s, buf, len, eof);
  } catch (const std::bad_alloc&) {
    wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
}

const wslay_event_callbacks kCallbacks = {
    RecvCallback,           SendCallback,         GenmaskCallback, FrameRecvStartCallback,
    FrameRecvChunkCallback, FrameRecvEndCallback, MsgRecvCallback,
};

// Codes a peer may send (RFC 6455 §7.4 and the IANA registry, which adds 1012–1014; wslay 1.1.1 rejects those).
bool IsValidReceivedCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Life cycle and the host's controls

Session::Session(const SessionConfig& config, ThreadBuffers* buffers, SessionHost* host)
    : config_(config),
      buffers_(buffers),
      host_(host),
      allowed_rsv_(config.deflate ? WSLAY_RSV1_BIT : (config.allowed_rsv & WSLAY_RSV1_BIT)),
      scan_(config.server && !config.plain_wslay),
      scanner_(config.deflate, config.max_recv_size),
      message_(buffers, this) {
  // No wslay context yet (dormant_): the first byte in or message out makes one (CreateContext).
  if (config.deflate) {
    // A window of 8 bits is legal to negotiate but zlib cannot compress with it: we then send plain messages
    // (RFC 7692 lets every message choose) and only inflate.
    if (config.deflate_params.compressWindowBits > 8) compressor_.reset(new MessageCompressor(config.deflate_params));
    decompressor_.reset(new MessageDecompressor(config.deflate_params));
  }
}

bool Session::CreateContext() {
  int r = config_.server ? wslay_event_context_server_init(&ctx_, &kCallbacks, this)
                         : wslay_event_context_client_init(&ctx_, &kCallbacks, this);
  if (r != 0) {
    ctx_ = nullptr;
    return false;
  }
  ++buffers_->wslay_contexts;
  // Always without wslay's buffering, which keeps every fragment as its own allocations: we assemble data
  // messages ourselves, in one buffer (message_). wslay still checks headers, masking, opcodes, fragmentation and
  // plain text's UTF-8 (incrementally), buffers control frames, and checks each frame's declared length against
  // this limit (per frame; the per-message limit is ours).
  wslay_event_config_set_no_buffering(ctx_, 1);
  wslay_event_config_set_max_recv_msg_length(ctx_, config_.max_recv_size);
  // With permessage-deflate, RSV1 marks compressed messages.
  wslay_event_config_set_allowed_rsv_bits(ctx_, config_.deflate ? WSLAY_RSV1_BIT : config_.allowed_rsv);
  return true;
}

void Session::FreeContext() {
  if (ctx_ == nullptr) return;
  wslay_event_context_free(ctx_);
  ctx_ = nullptr;
  --buffers_->wslay_contexts;
}

Session::~Session() { Close(); }

void Session::Attach(std::unique_ptr<Transport> transport, const uint8_t* head, size_t head_len) {
  transport_ = std::move(transport);
  if (head_len) kept_input_.assign(head, head + head_len);
}

void Session::Close() {
  // After a closing handshake the peer may have sent more (a ping behind its close) that nobody read: closing a
  // socket with unread input makes the kernel send RST instead of FIN, and a RST can make the peer drop our close
  // frame before reading it. So what is already there is read and dropped first (a few reads at most).
  if (transport_ && ctx_ != nullptr && recv_code_ != 0 && wslay_event_get_close_sent(ctx_) && io_error_ == 0 &&
      !eof_) {
    for (int i = 0; i < kMaxReadsPerStep; ++i) {
      IoResult r = transport_->Read(buffers_->read(), ThreadBuffers::kReadSize);
      if (r.status != IoStatus::kOk || r.bytes < ThreadBuffers::kReadSize) break;
    }
  }
  transport_.reset();
  FreeContext();
  dormant_ = false;
  for (FragmentSource& s : sources_) host_->ReleaseFragment(s.token);
  sources_.clear();
  lazy_compressed_pending_ = 0;
  ReleaseMessage();
  carry_ = {};
  kept_input_ = {};
  output_.Clear();
  compressor_.reset();
  decompressor_.reset();
}

void Session::SayGoingAway(uint16_t code) {
  if (transport_ && !fatal_ && Wake()) FailRaw(code);
  Close();
}

void Session::SetReadPaused(bool paused) {
  user_read_paused_ = paused;
  read_paused_ = user_read_paused_ || no_reader_;
}

void Session::SetNoReader(bool none) {
  no_reader_ = none;
  read_paused_ = user_read_paused_ || no_reader_;
}

void Session::SetWritePaused(bool paused) {
  write_paused_ = paused;
  if (!paused) source_starved_ = false;
}

void Session::ShutdownRead() {
  read_shut_ = true;
  if (Wake()) wslay_event_shutdown_read(ctx_);
}

void Session::ShutdownWrite() {
  if (Wake()) wslay_event_shutdown_write(ctx_);
}

void Session::SetIoError(int error) {
  io_error_ = error;
  fatal_ = true;
}

QueueResult Session::Queue(uint8_t opcode, const uint8_t* data, size_t len, uint8_t rsv) {
  if (close_requested_) return QueueResult::kClosing;
  if (!Wake()) return QueueResult::kNoMemory;
  if (config_.deflate && (rsv & WSLAY_RSV1_BIT)) return QueueResult::kInvalidRsv;  // RSV1 is the negotiated deflate's
  if (config_.max_backpressure != 0 && !wslay_is_ctrl_frame(opcode) &&
      BufferedAmount() + len > config_.max_backpressure) {
    return QueueResult::kBackpressure;
  }
  std::vector<uint8_t> compressed;
  if (compressor_ && !wslay_is_ctrl_frame(opcode) && len >= config_.deflate_threshold && lazy_compressed_pending_ == 0) {
    // Compressed now, in queue order, which is send order: the compression context follows the peer's.
    if (!compressor_->Compress(data, len, true, &compressed)) return QueueResult::kCompressFailed;
    data = compressed.data();
    len = compressed.size();
    rsv |= WSLAY_RSV1_BIT;
  }
  return QueueFramed(opcode, data, len, rsv);
}

bool Session::CanFrameDirectly(uint8_t opcode, uint8_t rsv) const {
  // wslay's queue count holds its half-sent message and fragmented sources too; a close queued by wslay itself
  // (a protocol failure) is in that count until it is sent, and write_enabled ends with it.
  return !config_.plain_wslay && !wslay_is_ctrl_frame(opcode) && transport_ && !fatal_ && !SendBlocked() &&
         (rsv & ~allowed_rsv_) == 0 && wslay_event_get_queued_msg_count(ctx_) == 0 && sources_.empty() &&
         !send_mid_frame_ && !close_queued_ && raw_close_sent_ == 0 && wslay_event_get_write_enabled(ctx_) &&
         !wslay_event_get_close_sent(ctx_) && (config_.server || !host_->MaskIsScripted());
}

QueueResult Session::QueueFramed(uint8_t opcode, const uint8_t* data, size_t len, uint8_t rsv) {
  if (CanFrameDirectly(opcode, rsv)) {
    uint8_t mask[4];
    // The key comes from where wslay's genmask would take it, in the same order (frames go out in queue order).
    int custom = config_.server ? 1 : host_->CustomMask(mask, 4);
    if (custom == 1 || (custom == 0 && buffers_->NextMask(mask, 4))) {
      FrameDirectly(opcode, data, len, rsv, config_.server ? nullptr : mask);
      source_starved_ = false;
      return QueueResult::kOk;
    }
    // No key: wslay asks again when it sends, and fails the connection if that fails too.
  }
  wslay_event_msg msg = {opcode, data, len};
  int r = wslay_event_queue_msg_ex(ctx_, &msg, rsv);
  if (r == WSLAY_ERR_INVALID_ARGUMENT) return QueueResult::kInvalidRsv;
  if (r == WSLAY_ERR_NO_MORE_MSG) return QueueResult::kClosing;
  if (r != 0) return QueueResult::kNoMemory;
  if (opcode == WSLAY_PONG) ++pongs_unsent_;  // counted like wslay's own pongs: TrackSent sees every pong leave
  source_starved_ = false;  // a new message wakes a parked source (as startWrite() does)
  return QueueResult::kOk;
}

void Session::FrameDirectly(uint8_t opcode, const uint8_t* data, size_t len, uint8_t rsv, const uint8_t* mask) {
  uint8_t header[kMaxFrameHeader];
  size_t hlen = WriteFrameHeader(header, rsv, opcode, len, mask);
  ThreadBuffers& b = *buffers_;
  if (stepping_ && output_.empty()) {
    // Inside our own event (an echo from onMsgRecv): the gather buffer is the output's tail.
    if (b.gather_used + hlen + len <= ThreadBuffers::kGatherSize) {
      uint8_t* at = b.gather() + b.gather_used;
      std::memcpy(at, header, hlen);
      if (mask) XorMask(at + hlen, data, len, mask);
      else if (len) std::memcpy(at + hlen, data, len);
      b.gather_used += hlen + len;
      return;
    }
    if (mask == nullptr && !write_blocked_) {
      // Too large to gather: what is gathered, the header and the payload in one write, the payload not copied.
      struct iovec extra[2] = {{header, hlen}, {const_cast<uint8_t*>(data), len}};
      WriteGatheredThen(extra, 2);
      return;
    }
    FlushGather();  // keeps the order: the gathered bytes go first (to the output if they are not all taken)
  }
  // Outside our event, or behind unsent bytes: into the output, written at the next flush.
  uint8_t* at = output_.Extend(hlen + len);
  std::memcpy(at, header, hlen);
  if (mask) XorMask(at + hlen, data, len, mask);
  else if (len) std::memcpy(at + hlen, data, len);
  output_.EndFrame();
}

void Session::WriteGatheredThen(const struct iovec* extra, size_t n) {
  ThreadBuffers& b = *buffers_;
  struct iovec slices[3];
  size_t k = 0;
  slices[k++] = {b.gather(), b.gather_used};
  size_t total = b.gather_used;
  for (size_t i = 0; i < n && k < 3; ++i) {
    slices[k++] = extra[i];
    total += extra[i].iov_len;
  }
  b.gather_used = 0;
  IoResult r = transport_->WriteV(slices, k);
  if (r.status == IoStatus::kError) {
    io_error_ = r.error;  // the step ends the connection
    return;
  }
  size_t written = r.status == IoStatus::kOk ? r.bytes : 0;
  if (written == total) return;
  write_blocked_ = true;
  // What was not taken goes to the output, in order; the last slices end one of our frames.
  size_t skip = written;
  for (size_t i = 0; i < k; ++i) {
    size_t l = slices[i].iov_len;
    if (skip >= l) {
      skip -= l;
      continue;
    }
    output_.Append(static_cast<const uint8_t*>(slices[i].iov_base) + skip, l - skip);
    skip = 0;
  }
  output_.EndFrame();
}

QueueResult Session::QueueShared(const std::shared_ptr<const SharedFrame>& frame) {
  if (close_requested_) return QueueResult::kClosing;
  // A quiet subscriber gets its wslay context back, as for Queue(): the checks below and the flush need it.
  if (!Wake()) return QueueResult::kNoMemory;
  const uint8_t* payload = frame->payload();
  size_t len = frame->payload_len();
  bool compressed = (frame->rsv & WSLAY_RSV1_BIT) != 0;
  if (frame->opcode != WSLAY_TEXT_FRAME && frame->opcode != WSLAY_BINARY_FRAME) return QueueResult::kInvalidRsv;
  if (compressed && !(compressor_ && config_.deflate_params.compressNoContextTakeover)) {
    return QueueResult::kNeedsOwnFrame;  // no deflate here, or a context that must go on per connection
  }
  if (!compressed && compressor_ && len >= config_.deflate_threshold && lazy_compressed_pending_ == 0) {
    return Queue(frame->opcode, payload, len, frame->rsv);  // compressed for this connection, as Queue() does
  }
  if (config_.max_backpressure != 0 && BufferedAmount() + len > config_.max_backpressure) {
    return QueueResult::kBackpressure;
  }
  if (!config_.server || !CanFrameDirectly(frame->opcode, frame->rsv)) {
    return QueueFramed(frame->opcode, payload, len, frame->rsv);  // masked for a client, or wslay's queue
  }
  ThreadBuffers& b = *buffers_;
  if (stepping_ && output_.empty()) {
    if (b.gather_used + frame->bytes.size() <= ThreadBuffers::kGatherSize) {  // small: gathered like an echo
      std::memcpy(b.gather() + b.gather_used, frame->bytes.data(), frame->bytes.size());
      b.gather_used += frame->bytes.size();
      return QueueResult::kOk;
    }
    FlushGather();
  }
  output_.AppendShared(frame);
  source_starved_ = false;
  return QueueResult::kOk;
}

void Session::FlushOutput() {
  if (ctx_ == nullptr || !transport_ || fatal_ || write_blocked_ || !HasUnsentBytes()) return;
  FlushBacklog();
  if (io_error_ != 0) fatal_ = true;
}

QueueResult Session::QueueFragmented(void* token, uint8_t opcode, uint8_t rsv) {
  if (close_requested_) return QueueResult::kClosing;
  if (!Wake()) return QueueResult::kNoMemory;
  if (config_.deflate && (rsv & WSLAY_RSV1_BIT)) return QueueResult::kInvalidRsv;
  sources_.emplace_back();
  FragmentSource& source = sources_.back();
  source.owner = this;
  source.token = token;
  if (compressor_ && config_.deflate_threshold != UINT64_MAX) {  // a threshold of Infinity: never compress
    source.compress = true;
    rsv |= WSLAY_RSV1_BIT;  // wslay sets it on the first frame only
  }
  wslay_event_fragmented_msg msg;
  std::memset(&msg, 0, sizeof msg);
  msg.opcode = opcode;
  msg.source.data = &source;
  msg.read_callback = FragmentReadCallback;
  int r = wslay_event_queue_fragmented_msg_ex(ctx_, &msg, rsv);
  if (r != 0) {
    sources_.pop_back();  // the host still owns the token
    if (r == WSLAY_ERR_INVALID_ARGUMENT) return QueueResult::kInvalidRsv;
    if (r == WSLAY_ERR_NO_MORE_MSG) return QueueResult::kClosing;
    return QueueResult::kNoMemory;
  }
  if (source.compress) ++lazy_compressed_pending_;
  source_starved_ = false;
  return QueueResult::kOk;
}

bool Session::RequestClose(uint16_t code, const std::string& reason) {
  if (close_requested_) return false;
  close_requested_ = true;
  close_code_ = code;
  close_reason_ = reason;
  Wake();  // the close frame goes through wslay (no memory: the session ends instead)
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// State

bool Session::IsOver() const {
  if (ctx_ == nullptr && !dormant_) return true;
  if (terminated_) return true;
  if (AwaitingCloseReply()) return false;
  if (fatal_ || eof_ || io_error_ != 0 || timed_out_) return true;
  if (!transport_ || dormant_) return false;  // not attached yet, or quiet
  return !wslay_event_want_read(ctx_) && !wslay_event_want_write(ctx_) && !HasUnsentBytes();
}

bool Session::IsClosing() const {
  // A closing handshake from either side, or wslay failing the connection (it stops reading and queues a close);
  // not a read side the user shut down while still writing.
  return close_requested_ || close_queued_ || recv_code_ != 0 || fail_code_ != 0 ||
         (ctx_ != nullptr && (wslay_event_get_close_sent(ctx_) || (!wslay_event_want_read(ctx_) && !read_shut_)));
}

int Session::WantedEvents() const {
  if (!transport_ || (ctx_ == nullptr && !dormant_)) return 0;
  if (dormant_) return fatal_ || ReadBlocked() ? 0 : kReadable;  // a quiet session waits for its next byte
  if (AwaitingCloseReply()) return kReadable | (HasUnsentBytes() ? kWritable : 0);
  if (fatal_) return 0;
  int events = 0;
  if (!ReadBlocked() && wslay_event_want_read(ctx_)) events |= kReadable;
  // A starved source leaves wslay wanting to write; the socket is only worth polling when a frame is half out.
  if (HasUnsentBytes() || (!SendBlocked() && wslay_event_want_write(ctx_) && (!source_starved_ || send_mid_frame_))) {
    events |= kWritable;
  }
  return events;
}

bool Session::HasPendingInput() const {
  if (dormant_) return !fatal_ && !ReadBlocked() && kept_offset_ < kept_input_.size();  // the upgrade's head
  if (ctx_ == nullptr) return false;
  if (AwaitingCloseReply()) return kept_offset_ < kept_input_.size();  // skipped without readiness from the fd
  if (fatal_) return false;
  if (HasHeld() && !read_paused_) return true;
  return !ReadBlocked() && kept_offset_ < kept_input_.size() && wslay_event_want_read(ctx_);
}

bool Session::SendQueueEmpty() const {
  return (ctx_ != nullptr ? wslay_event_get_queued_msg_count(ctx_) == 0 : dormant_) && !HasUnsentBytes() &&
         (!transport_ || transport_->Pending() == 0);
}

size_t Session::QueuedCount() const {
  // Our own frames count until their last byte is written.
  return (ctx_ ? wslay_event_get_queued_msg_count(ctx_) : 0) + output_.frames();
}

size_t Session::BufferedAmount() const {
  return (ctx_ ? wslay_event_get_queued_msg_length(ctx_) : 0) + output_.bytes() +
         (transport_ ? transport_->Pending() : 0);
}

CloseReport Session::Report() const {
  CloseReport r;
  bool close_sent = ctx_ != nullptr && wslay_event_get_close_sent(ctx_);
  r.sent_code = close_sent ? wslay_event_get_status_code_sent(ctx_) : raw_close_sent_;
  if (terminated_) {
    r.code = 1006;
  } else if (recv_code_ != 0) {
    r.code = recv_code_;
  } else if (fail_code_ != 0) {
    r.code = fail_code_;
  } else if (close_sent && (!close_requested_ || r.sent_code != close_code_) &&
             (r.sent_code == 1002 || r.sent_code == 1007 || r.sent_code == 1009 || r.sent_code == 1011)) {
    // wslay failed the connection itself (bad opcode, RSV, mask, UTF-8, size), also while our close() was still
    // waiting for the queue: the frame that went out is wslay's, not the one close() asked for.
    r.code = r.sent_code;
  } else {
    r.code = 1006;
  }
  r.reason = recv_reason_;
  r.was_clean = (close_sent || raw_close_sent_ != 0) && (recv_code_ != 0 || close_reply_seen_) && io_error_ == 0;
  // Frames the user queued and that were not written. wslay's count also holds a close frame it queued by itself
  // (on a failed read, or to fail the connection) or we queued for it; that one is not a message of the user's.
  // Automatic pongs are counted too (wslay does not tell them apart).
  bool close_waiting = ctx_ != nullptr && !close_sent && wslay_event_get_write_enabled(ctx_) &&
                       (close_queued_ || recv_failed_ || (!wslay_event_want_read(ctx_) && !read_shut_));
  r.unsent_messages = QueuedCount() - (close_waiting && QueuedCount() > 0 ? 1 : 0);
  // Not what a stream transport already took: the stream still writes that after the end.
  r.unsent_bytes = BufferedAmount() - (transport_ ? transport_->Pending() : 0);
  r.unsent_messages += refused_messages_;
  r.unsent_bytes += refused_bytes_;
  r.error = io_error_;
  r.timed_out = timed_out_;
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// The event cycle

void Session::Step(bool readable, bool writable) {
  if (dormant_ && !fatal_ && !terminated_ && (readable || kept_offset_ < kept_input_.size())) Wake();
  if (ctx_ == nullptr || !transport_) return;
  active_ = true;
  if (writable) write_blocked_ = false;
  if (AwaitingCloseReply()) {
    ReadCloseReply(readable);
    return;
  }
  if (fatal_) return;
  stepping_ = true;
  try {
    DeliverHeld();
    fd_readable_ = readable;
    reads_this_step_ = 0;
    if (fd_readable_ || kept_offset_ < kept_input_.size()) ReadPhase();
  } catch (const std::bad_alloc&) {  // keeping input or holding an event outside wslay's callbacks
    in_recv_ = false;
    in_cur_ = in_end_ = nullptr;
    OnOutOfMemory();
  }
  try {
    FlushGather();  // what SendFromRecv gathered: the shared buffer must be empty when this step ends
    if (!fatal_) SendPhase();
  } catch (const std::bad_alloc&) {  // the output could not grow: nothing more can be written in order
    buffers_->gather_used = 0;
    if (fail_code_ == 0) fail_code_ = 1011;
    fatal_ = true;
  }
  stepping_ = false;
}

void Session::ReadPhase() {
  if (ReadBlocked() || !wslay_event_want_read(ctx_)) return;
  in_recv_ = true;
  int r = wslay_event_recv(ctx_);
  FlushBatch();
  in_recv_ = false;
  if (in_cur_ != in_end_) {
    // Stopped in the middle of the shared buffer (paused, or closed): keep the rest if it can still matter.
    if (wslay_event_want_read(ctx_)) {
      kept_input_.erase(kept_input_.begin(), kept_input_.begin() + kept_offset_);
      kept_offset_ = 0;
      kept_input_.insert(kept_input_.end(), in_cur_, in_end_);
    } else if (!config_.server) {
      SkipReceived(in_cur_, static_cast<size_t>(in_end_ - in_cur_));  // the server's close may be among them
    }
    in_cur_ = in_end_ = nullptr;
  }
  if (!wslay_event_want_read(ctx_)) ReleaseMessage();  // it can never complete
  if (r != 0) {
    fatal_ = true;
    recv_failed_ = true;  // wslay queued a code-less close frame on its way out
    // Not our I/O: a framing error found by wslay's frame layer (bad length encoding, oversized or fragmented
    // control frame). wslay would answer with a code-less close; RFC 6455 wants 1002.
    if (r == WSLAY_ERR_CALLBACK_FAILURE && !eof_ && io_error_ == 0) FailRaw(1002);
    else if (r == WSLAY_ERR_NOMEM) FailRaw(1011);
  }
}

bool Session::AwaitingCloseReply() const {
  if (config_.server || terminated_ || ctx_ == nullptr || !transport_ || close_reply_seen_ || recv_code_ != 0 ||
      read_shut_) {
    return false;
  }
  if (eof_ || io_error_ != 0 || timed_out_ || wslay_event_get_close_received(ctx_)) return false;
  // wslay reads no more (it or we failed the connection) and our close frame is out
  bool reading_over = fatal_ || !wslay_event_get_read_enabled(ctx_);
  bool close_out = (raw_close_sent_ != 0 && !HasUnsentBytes()) || wslay_event_get_close_sent(ctx_);
  return reading_over && close_out;
}

void Session::ReadCloseReply(bool readable) {
  if (HasUnsentBytes() && !FlushBacklog()) return;
  if (kept_offset_ < kept_input_.size()) {
    SkipReceived(kept_input_.data() + kept_offset_, kept_input_.size() - kept_offset_);
    kept_input_ = {};
    kept_offset_ = 0;
  }
  if (!carry_.empty()) {  // an incomplete control frame held back from wslay: it may begin the server's close
    SkipReceived(carry_.data(), carry_.size());
    carry_ = {};
  }
  for (int i = 0; readable && i < kMaxReadsPerStep && AwaitingCloseReply(); ++i) {
    IoResult r = transport_->Read(buffers_->read(), ThreadBuffers::kReadSize);
    if (r.status == IoStatus::kWouldBlock) break;
    if (r.status == IoStatus::kEof) {
      eof_ = true;  // without a close frame: not clean
    } else if (r.status == IoStatus::kError) {
      io_error_ = r.error;
    } else {
      bytes_received_ += r.bytes;
      SkipReceived(buffers_->read(), r.bytes);
      if (r.bytes < ThreadBuffers::kReadSize) break;
    }
  }
}

void Session::SkipReceived(const uint8_t* data, size_t len) {
  received_frames_.Feed(data, len, [this](uint8_t opcode) {
    if (opcode == WSLAY_CONNECTION_CLOSE) close_reply_seen_ = true;
  });
}

void Session::SendPhase() {
  for (;;) {
    // The socket is full: the poll handle waits for writable. A close() waiting for wslay's queue to empty is still
    // queued below: what it waited for (bytes in the output, frames framed directly) is already handed on.
    bool full = HasUnsentBytes() && !FlushBacklog();
    if (!full && !SendBlocked() && wslay_event_want_write(ctx_)) {
      int r = wslay_event_send(ctx_);
      FlushGather();
      if (r != 0) {
        fatal_ = true;
        if (io_error_ == 0) FailRaw(1011);  // a fragmented source or genmask failed
        return;
      }
    }
    if (io_error_ != 0) break;
    if (wslay_event_get_queued_msg_count(ctx_) == 0) pongs_unsent_ = 0;  // nothing queued: no pong either
    if (close_requested_ && !close_queued_ && wslay_event_get_queued_msg_count(ctx_) == 0) {
      close_queued_ = true;
      // NO_MORE_MSG means a close is already on its way (the peer's echo, or a protocol failure).
      int r = wslay_event_queue_close(ctx_, close_code_, reinterpret_cast<const uint8_t*>(close_reason_.data()),
                                      close_reason_.size());
      if (r == 0 && !full) continue;
    }
    break;
  }
  if (io_error_ != 0) fatal_ = true;
}

void Session::SendFromRecv() {
  // What a callback queued (an echo) is handed to wslay now, into the gather buffer, before wslay parses the next
  // frame: a close that a later bad frame makes wslay queue would otherwise jump ahead of it. The send path only
  // touches wslay's output state, and a syscall happens only when the gather buffer is full.
  if (!in_recv_ || fatal_ || SendBlocked() || !wslay_event_want_write(ctx_)) return;
  if (HasUnsentBytes() && !FlushBacklog()) return;
  if (wslay_event_send(ctx_) != 0) {
    fatal_ = true;
    wslay_event_shutdown_read(ctx_);
  }
}

void Session::FlushBatch() {
  if (!batch_pending_) return;
  batch_pending_ = false;
  host_->FlushMessages();
  SendFromRecv();
}

void Session::Fail(uint16_t code) {
  FlushBatch();  // the messages before the failing frame are delivered (and their echoes queued) before its close
  if (fail_code_ == 0) fail_code_ = code;
  ReleaseMessage();
  close_queued_ = true;
  wslay_event_queue_close(ctx_, code, nullptr, 0);  // NO_MORE_MSG when a close is already queued: keep that one
  wslay_event_shutdown_read(ctx_);
}

void Session::FailRaw(uint16_t code) {
  if (fail_code_ == 0) fail_code_ = code;
  fatal_ = true;
  // Write the close frame ourselves, but only between frames and only if no close went out yet.
  if (send_mid_frame_ || wslay_event_get_close_sent(ctx_) || raw_close_sent_ != 0) return;
  // Frames wslay already handed us in this read (an echo, an automatic pong) are still in the gather buffer: they
  // go first, or the close frame would overtake them.
  FlushGather();
  uint8_t frame[8] = {0x88, 0x02};
  size_t n = 2;
  uint8_t payload[2] = {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code & 0xff)};
  if (!config_.server) {
    uint8_t mask[4];
    if (!buffers_->NextMask(mask, 4)) return;
    frame[1] |= 0x80;
    std::memcpy(frame + 2, mask, 4);
    n = 6;
    payload[0] ^= mask[0];
    payload[1] ^= mask[1];
  }
  output_.Append(frame, n);
  output_.Append(payload, 2);
  raw_close_sent_ = code;
  FlushBacklog();
}

// ---------------------------------------------------------------------------------------------------------------
// wslay's I/O callbacks

ssize_t Session::OnRecv(uint8_t* buf, size_t len) {
  // The fast path goes on to the end of the window wslay would hold on the plain path (ScanToWslay).
  if (ReadBlocked() && recv_window_left_ == 0) {
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  for (;;) {
    if (kept_offset_ < kept_input_.size()) {
      // Not in place: the vector is freed once consumed, before wslay has delivered from it.
      size_t avail = kept_input_.size() - kept_offset_, used = 0;
      size_t n = HandToWslay(kept_input_.data() + kept_offset_, avail, buf, len, false, &used);
      kept_offset_ += used;
      if (n == 0 && scan_blocked_) {  // paused at the end of a window: the rest stays kept
        scan_blocked_ = false;
        wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
        return -1;
      }
      const bool failed = n == 0 && !wslay_event_get_read_enabled(ctx_);  // the fast path failed the connection
      if (n == 0 && kept_offset_ < kept_input_.size() && !failed) {
        carry_.assign(kept_input_.begin() + kept_offset_, kept_input_.end());
      }
      if (n == 0 || kept_offset_ == kept_input_.size()) {
        kept_input_ = {};
        kept_offset_ = 0;
      }
      if (n != 0) return static_cast<ssize_t>(n);
      if (failed) {
        wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
        return -1;
      }
      continue;  // a fast frame's payload taken, or an incomplete control frame waiting for the socket's next bytes
    }
    if (in_cur_ == in_end_) {
      FlushBatch();  // before the shared read buffer is refilled (and an EOF or error is seen)
      if (!fd_readable_ || reads_this_step_ >= kMaxReadsPerStep || ReadBlocked()) {
        wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
        return -1;
      }
      ++reads_this_step_;
      uint8_t* shared = buffers_->read();
      // An incomplete control frame from the last read goes first, so it reaches wslay in one piece.
      size_t carried = carry_.size();
      if (carried) std::memcpy(shared, carry_.data(), carried);
      IoResult r = transport_->Read(shared + carried, ThreadBuffers::kReadSize - carried);
      if (r.status != IoStatus::kOk) {
        if (r.status == IoStatus::kWouldBlock) {
          fd_readable_ = false;
          wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
        } else {
          if (r.status == IoStatus::kEof) eof_ = true;
          else io_error_ = r.error;
          wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
        }
        return -1;
      }
      bytes_received_ += r.bytes;
      // A short read means the socket is drained: skip the read that would only say EAGAIN.
      if (r.bytes < ThreadBuffers::kReadSize - carried) fd_readable_ = false;
      carry_.clear();
      in_cur_ = shared;
      in_end_ = shared + carried + r.bytes;
    }
    size_t used = 0;
    size_t n = HandToWslay(in_cur_, static_cast<size_t>(in_end_ - in_cur_), buf, len, true, &used);
    in_cur_ += used;
    if (n != 0) return static_cast<ssize_t>(n);
    if (!wslay_event_get_read_enabled(ctx_) || scan_blocked_) {  // the fast path failed the connection, or paused
      scan_blocked_ = false;
      wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    if (in_cur_ != in_end_) carry_.assign(in_cur_, in_end_);
    in_cur_ = in_end_;
  }
}

size_t Session::HandToWslay(uint8_t* src, size_t avail, uint8_t* buf, size_t len, bool in_place, size_t* used) {
  if (scan_) return ScanToWslay(src, avail, buf, len, in_place, used);
  size_t n = received_frames_.Take(src, std::min(avail, len));
  // 0: a control frame starts here and is incomplete. wslay always has room for a whole one (its buffer is empty
  // at a frame boundary), so that can only mean the bytes are not here yet; if they are, hand them anyway.
  if (n == 0 && avail > len) n = received_frames_.Take(src, len, false);
  if (n) std::memcpy(buf, src, n);
  *used = n;
  return n;
}

// ---------------------------------------------------------------------------------------------------------------
// The receive fast path (server sessions, unless plain_wslay; see frame_scanner.h)
//
// A fast frame's payload is taken before wslay sees its header, so everything wslay would judge on that header is
// judged by the scanner first (it takes only headers wslay accepts), and what OnFrameRecvStart/Chunk do for the
// frame is done here, in the same order: the frame's start (limits), its payload (UTF-8, the message buffer or
// the inflater), the end-of-message UTF-8 check. wslay then gets the zero-length header and calls its callbacks
// as for any frame, OnMsgRecv included. What wslay was handed before a fast frame is handled by wslay first: a
// fast frame begins only at the start of a recv, and the recv returns right after its header.
// A pause (stopRead() in a callback) stops the plain path at the end of what wslay holds, the bytes of its last
// recv (up to its 4 KiB buffer): the fast path follows the same windows, and goes on to the end of the current one.

size_t Session::ScanToWslay(uint8_t* src, size_t avail, uint8_t* buf, size_t len, bool in_place, size_t* used) {
  // Whether a new message may be fast: asked of the host only when a new message begins (it can change between
  // messages: a frame callback set later).
  int new_fast_ok = -1;
  size_t in = 0, out = 0;
  for (;;) {
    *used = in;
    if (out == len) return out;  // wslay's buffer is full
    FrameScanner::Next next = scanner_.Look(src + in, avail - in, new_fast_ok != 0);
    if (next.asked_new_fast && new_fast_ok < 0) {
      new_fast_ok = config_.buffering && !host_->Wants(SessionHost::kFrameStart) &&
                    !host_->Wants(SessionHost::kFrameChunk) && !host_->Wants(SessionHost::kFrameEnd);
      if (!new_fast_ok) next = scanner_.Look(src + in, avail - in, false);
    }
    size_t n = next.len;
    const bool takes_bytes = next.piece == FrameScanner::Piece::kPlain || next.piece == FrameScanner::Piece::kFastStart ||
                             next.piece == FrameScanner::Piece::kFastPayload;
    if (takes_bytes && n > 0 && next.whole_control && n > recv_window_left_) recv_window_left_ = 0;  // it starts one
    if (takes_bytes && n > 0 && recv_window_left_ == 0) {
      // Callbacks run before a new window begins, so a pause in them stops where it stops without batching.
      FlushBatch();
      if (ReadBlocked()) {  // paused at the end of a window: the rest waits
        scan_blocked_ = true;
        return out;
      }
      recv_window_left_ = std::min<size_t>(kWslayBufferSize, avail - in);
    }
    if (next.piece != FrameScanner::Piece::kFastStart) n = std::min(n, recv_window_left_);
    recv_window_left_ -= std::min(n, recv_window_left_);
    switch (next.piece) {
      case FrameScanner::Piece::kWait:
        return out;
      case FrameScanner::Piece::kPlain:
        if (n == 0) return out;
        FlushBatch();  // wslay judges these bytes: what came before is delivered first
        if (n > len - out) {
          // A control frame goes whole, in the next recv (wslay's buffer is empty then, with room for it).
          if (out > 0 && next.whole_control) return out;
          n = len - out;
        }
        std::memcpy(buf + out, src + in, n);
        scanner_.TakePlain(src + in, n);
        in += n;
        out += n;
        break;
      case FrameScanner::Piece::kFastStart:
        if (out > 0) return out;  // wslay handles the frames before it first
        in += n;
        *used = in;
        if (!BeginFastFrame(scanner_.StartFast())) return 0;
        break;
      case FrameScanner::Piece::kFastPayload:
        if (n == 0) return out;
        in += n;
        *used = in;
        if (!TakeFastPayload(src + in - n, n, in_place)) return 0;
        break;
      case FrameScanner::Piece::kFastEnd:
        if (!EndFastFrame()) return 0;
        return scanner_.EndFast(buf);  // out == 0 here, and wslay asked for at least a header's room
    }
  }
}

bool Session::BeginFastFrame(const FrameHeader& header) {
  wslay_event_on_frame_recv_start_arg arg;
  arg.fin = header.fin;
  arg.rsv = header.rsv;
  arg.opcode = header.opcode;
  arg.payload_length = header.length;
  OnFrameRecvStart(&arg);
  if (header.opcode != WSLAY_CONTINUATION_FRAME) fast_text_utf8_.Reset();
  return wslay_event_get_read_enabled(ctx_) != 0;
}

bool Session::TakeFastPayload(uint8_t* src, size_t n, bool in_place) {
  frame_left_ -= n;
  if (message_compressed_) {  // unmasked where it lies, then inflated as wslay's chunks are
    scanner_.UnmaskPayload(src, src, n);
    InflateChunk(src, n, false);
    return wslay_event_get_read_enabled(ctx_) != 0;
  }
  const bool text = message_text_;
  if (in_place && fragments_ == 1 && frame_fin_ && n == frame_length_) {
    // A one-frame message here whole: unmasked where it lies and delivered from there (OnMsgRecv), no copy.
    scanner_.UnmaskPayload(src, src, n);
    if (text && !fast_text_utf8_.Feed(src, n)) {
      FailAsWslay(1007);
      return false;
    }
    whole_ = src;
    whole_len_ = n;
    return true;
  }
  MessageBuffer::Grow grown = message_.Reserve(n, config_.max_recv_size, frame_left_);
  if (grown != MessageBuffer::Grow::kOk) {
    // wslay checks a chunk's UTF-8 before we would append it.
    if (text) {
      scanner_.UnmaskPayload(src, src, n);
      if (!fast_text_utf8_.Feed(src, n)) {
        FailAsWslay(1007);
        return false;
      }
    }
    Fail(grown == MessageBuffer::Grow::kOverBudget ? 1008 : 1009);  // as AppendToMessage
    return false;
  }
  scanner_.UnmaskPayload(message_.end(), src, n);  // unmasked straight into the message: one pass
  if (text && !fast_text_utf8_.Feed(message_.end(), n)) {
    FailAsWslay(1007);
    return false;
  }
  message_.Commit(n);
  return true;
}

bool Session::EndFastFrame() {
  // wslay's check at the end of a text message's last frame: no sequence left open.
  if (message_text_ && !message_compressed_ && frame_fin_ && !fast_text_utf8_.Complete()) {
    FailAsWslay(1007);
    return false;
  }
  fast_frame_handed_ = true;
  return true;
}

void Session::FailAsWslay(uint16_t code) {
  FlushBatch();
  wslay_event_queue_close(ctx_, code, nullptr, 0);  // NO_MORE_MSG when a close is already queued: keep that one
  wslay_event_shutdown_read(ctx_);
}

ssize_t Session::OnSend(const uint8_t* data, size_t len) {
  if (write_blocked_) {  // where the last send stopped is still what send_mid_frame_ says
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (HasUnsentBytes() && !FlushBacklog()) {
    send_mid_frame_ = true;
    wslay_event_set_error(ctx_, io_error_ ? WSLAY_ERR_CALLBACK_FAILURE : WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  ThreadBuffers& b = *buffers_;
  if (b.gather_used + len <= ThreadBuffers::kGatherSize) {
    std::memcpy(b.gather() + b.gather_used, data, len);
    b.gather_used += len;
    send_mid_frame_ = false;
    TrackSent(data, len);
    return static_cast<ssize_t>(len);
  }
  // Too much to gather: write what is gathered and this chunk in one syscall, without copying the chunk.
  IoResult r = transport_->Write(b.gather(), b.gather_used, data, len);
  if (r.status == IoStatus::kError) {
    io_error_ = r.error;
    b.gather_used = 0;
    wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  size_t written = r.status == IoStatus::kOk ? r.bytes : 0;
  if (written < b.gather_used + len) write_blocked_ = true;
  if (written < b.gather_used) {
    output_.Append(b.gather() + written, b.gather_used - written);
    b.gather_used = 0;
    send_mid_frame_ = true;
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t taken = written - b.gather_used;
  b.gather_used = 0;
  send_mid_frame_ = taken < len;
  if (taken == 0) {
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  TrackSent(data, taken);
  return static_cast<ssize_t>(taken);
}

void Session::TrackSent(const uint8_t* data, size_t len) {
  sent_frames_.Feed(data, len, [this](uint8_t opcode) {
    if (opcode == WSLAY_PONG && pongs_unsent_ > 0) --pongs_unsent_;
    if (opcode == WSLAY_CONNECTION_CLOSE) pongs_unsent_ = 0;  // wslay dropped the pongs queued behind it
  });
}

void Session::FlushGather() {
  ThreadBuffers& b = *buffers_;
  if (b.gather_used == 0) return;
  size_t used = b.gather_used;
  b.gather_used = 0;
  if (HasUnsentBytes()) {  // order must hold: gathered bytes go after the output
    output_.Append(b.gather(), used);
    FlushBacklog();
    return;
  }
  IoResult r = transport_->Write(b.gather(), used, nullptr, 0);
  if (r.status == IoStatus::kError) {
    io_error_ = r.error;
    return;
  }
  size_t written = r.status == IoStatus::kOk ? r.bytes : 0;
  if (written < used) {
    output_.Append(b.gather() + written, used - written);
    write_blocked_ = true;
  }
}

bool Session::FlushBacklog() {
  while (HasUnsentBytes()) {
    IoResult r = output_.Flush(transport_.get());
    if (r.status == IoStatus::kError) {
      io_error_ = r.error;
      return false;
    }
    if (r.status != IoStatus::kOk || r.bytes == 0) {
      write_blocked_ = true;
      return false;
    }
  }
  return true;
}

int Session::OnGenmask(uint8_t* buf, size_t len) {
  int custom = host_->CustomMask(buf, len);
  if (custom == 1 || (custom == 0 && buffers_->NextMask(buf, len))) return 0;
  wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

void Session::FinishSource(FragmentSource* source) {
  if (source->compress && lazy_compressed_pending_ > 0) --lazy_compressed_pending_;
  for (auto it = sources_.begin(); it != sources_.end(); ++it) {
    if (&*it == source) {
      host_->ReleaseFragment(source->token);
      sources_.erase(it);  // wslay calls the read callback no more after EOF or an error
      return;
    }
  }
}

ssize_t Session::OnFragmentRead(FragmentSource* source, uint8_t* buf, size_t len, int* eof) {
  // Parked: wslay asks only once its control queue is empty, so answering "nothing" lets pongs and a close pass.
  if (source_starved_) return 0;
  for (;;) {
    // Bytes produced earlier (more than wslay asked for, or compressor output) go first.
    if (source->rest_offset < source->rest.size()) {
      size_t n = std::min(len, source->rest.size() - source->rest_offset);
      std::memcpy(buf, source->rest.data() + source->rest_offset, n);
      source->rest_offset += n;
      if (source->rest_offset == source->rest.size()) {
        source->rest.clear();
        source->rest_offset = 0;
        if (source->eof_after_rest) {
          *eof = 1;
          FinishSource(source);
        }
      }
      return static_cast<ssize_t>(n);
    }
    if (source->eof_after_rest) {  // the compressor had nothing left for the last frame: send it empty
      *eof = 1;
      FinishSource(source);
      return 0;
    }
    FragmentChunk chunk = host_->ReadFragment(source->token, len);
    bool fin = chunk.status == FragmentChunk::kEof;
    bool ok = chunk.status != FragmentChunk::kError;
    if (ok && source->compress && (chunk.len > 0 || fin) &&
        !compressor_->Compress(chunk.data, chunk.len, fin, &source->rest)) {
      ok = false;
    }
    if (!ok) {  // ERROR, an exception, a bad value or a compressor failure: the message cannot be completed
      FinishSource(source);
      wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
      return -1;
    }
    if (source->compress) {
      if (fin) {
        source->eof_after_rest = true;
      } else if (chunk.len == 0) {
        source_starved_ = true;  // nothing yet: wait for startWrite() instead of spinning on a writable socket
        return 0;
      }
      continue;  // serve the compressed bytes, or ask for more when zlib kept them all
    }
    size_t copied = std::min(len, chunk.len);
    if (copied) std::memcpy(buf, chunk.data, copied);
    if (copied < chunk.len) source->rest.assign(chunk.data + copied, chunk.data + chunk.len);  // never dropped
    if (fin) {
      if (copied < chunk.len) {
        source->eof_after_rest = true;
      } else {
        *eof = 1;
        FinishSource(source);
      }
    } else if (chunk.len == 0) {
      source_starved_ = true;
    }
    return static_cast<ssize_t>(copied);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// wslay's receive callbacks

void Session::OnFrameRecvStart(const wslay_event_on_frame_recv_start_arg* arg) {
  current_opcode_ = arg->opcode;
  last_frame_fast_ = fast_frame_handed_;
  if (fast_frame_handed_) {  // a fast frame's zero-length header: BeginFastFrame did the rest
    fast_frame_handed_ = false;
    return;
  }
  if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    close_payload_.clear();
    close_payload_expected_ = arg->payload_length;
    if (arg->payload_length == 1) Fail(1002);  // RFC 6455 §5.5.1: empty, or a 2-byte code first
    return;
  }
  if (wslay_is_ctrl_frame(arg->opcode)) return;
  frame_fin_ = arg->fin != 0;
  frame_length_ = frame_left_ = arg->payload_length;
  if (arg->opcode == WSLAY_CONTINUATION_FRAME) {
    if (++fragments_ > config_.max_fragments) {
      Fail(1009);
      return;
    }
  } else {
    fragments_ = 1;
    in_message_ = true;
    ++message_seq_;
    whole_ = nullptr;
    message_text_ = arg->opcode == WSLAY_TEXT_FRAME;
    message_compressed_ = decompressor_ && (arg->rsv & WSLAY_RSV1_BIT);
    message_inflated_ = 0;
    if (message_compressed_) inflated_utf8_.Reset();
  }
  frame_inflated_start_ = message_inflated_;
  // wslay checks each frame's declared length alone; with buffering the limit is on the message.
  if (config_.buffering && !message_compressed_ && message_.size() + arg->payload_length > config_.max_recv_size) {
    Fail(1009);
    return;
  }
  if (fail_code_ == 0 && host_->Wants(SessionHost::kFrameStart)) {
    // RSV1 is ours when we inflate: the user sees the message as if it had been sent plain.
    uint8_t rsv = message_compressed_ ? (arg->rsv & ~WSLAY_RSV1_BIT) : arg->rsv;
    Deliver(SessionHost::kFrameStart, arg->fin, rsv, arg->opcode, 0, arg->payload_length, nullptr, 0);
  }
}

void Session::OnFrameRecvChunk(const wslay_event_on_frame_recv_chunk_arg* arg) {
  if (current_opcode_ == WSLAY_CONNECTION_CLOSE) {
    GatherClosePayload(arg->data, arg->data_length);
    return;
  }
  if (wslay_is_ctrl_frame(current_opcode_) || fail_code_ != 0 || arg->data_length == 0) return;
  frame_left_ -= arg->data_length;
  if (message_compressed_) {
    InflateChunk(arg->data, arg->data_length, false);
    return;
  }
  if (host_->Wants(SessionHost::kFrameChunk)) {
    Deliver(SessionHost::kFrameChunk, 0, 0, current_opcode_, 0, arg->data_length, arg->data, arg->data_length);
  }
  if (!config_.buffering || fail_code_ != 0) return;
  if (fragments_ == 1 && frame_fin_ && arg->data_length == frame_length_) {
    // The whole message in one chunk (the common case): OnMsgRecv, which wslay calls before it reads again,
    // delivers it straight from wslay's buffer, with no copy and no allocation.
    whole_ = arg->data;
    whole_len_ = arg->data_length;
    return;
  }
  AppendToMessage(arg->data, arg->data_length, frame_left_);
}

void Session::OnFrameRecvEnd() {
  if (wslay_is_ctrl_frame(current_opcode_) || fail_code_ != 0) return;
  if (message_compressed_ && frame_fin_) {
    InflateChunk(nullptr, 0, true);
    if (fail_code_ != 0) return;
  }
  if (host_->Wants(SessionHost::kFrameEnd)) Deliver(SessionHost::kFrameEnd, 0, 0, current_opcode_, 0, 0, nullptr, 0);
}

void Session::InflateChunk(const uint8_t* data, size_t len, bool fin) {
  if (fail_code_ != 0) return;
  // maxRecvSize bounds the inflated message with buffering, each frame's inflated bytes without (as for plain
  // frames, which wslay checks per frame then).
  uint64_t limit = config_.buffering ? config_.max_recv_size : frame_inflated_start_ + config_.max_recv_size;
  std::vector<uint8_t>& out = buffers_->inflated;  // this chunk's output only, shared by the thread
  out.clear();
  MessageDecompressor::Result r;
  try {
    if (buffers_->InjectedFailure(ThreadBuffers::Growth::kMessage)) throw std::bad_alloc();
    r = decompressor_->Decompress(data, len, fin, limit, &out);
  } catch (const std::bad_alloc&) {
    out = {};
    Fail(1009);  // the message could not be held: too big for the memory there is
    return;
  }
  message_inflated_ += out.size();
  if (r == MessageDecompressor::Result::kTooBig) {
    Fail(1009);
    return;
  }
  if (r == MessageDecompressor::Result::kError) {
    Fail(1007);
    return;
  }
  // wslay skips the UTF-8 check for RSV1 messages; we check what inflates, as it inflates.
  if (message_text_ && (!inflated_utf8_.Feed(out.data(), out.size()) || (fin && !inflated_utf8_.Complete()))) {
    Fail(1007);
    return;
  }
  if (!out.empty()) {
    if (config_.buffering && !AppendToMessage(out.data(), out.size(), 0)) return;
    // Frame callbacks see what the user would: the inflated bytes, with or without buffering.
    if (host_->Wants(SessionHost::kFrameChunk)) {
      Deliver(SessionHost::kFrameChunk, 0, 0, current_opcode_, 0, out.size(), out.data(), out.size());
    }
  }
  if (out.capacity() > ThreadBuffers::kReadSize) buffers_->inflated = {};  // a bomb's chunk is not kept
}

bool Session::AppendToMessage(const uint8_t* data, size_t len, uint64_t coming) {
  switch (message_.Append(data, len, config_.max_recv_size, coming)) {
    case MessageBuffer::Grow::kOk:
      return true;
    case MessageBuffer::Grow::kOverBudget:
      // 1008, not 1009: the message may be well within maxRecvSize; what it broke is the thread's policy for
      // memory held by incomplete messages (setReceiveBudget), and this connection holds the most.
      Fail(1008);
      return false;
    case MessageBuffer::Grow::kNoMemory:
      Fail(1009);  // the message is too big for the memory there is
      return false;
  }
  return false;
}

void Session::ReleaseMessage() {
  message_.Release();
  whole_ = nullptr;
}

void Session::EvictForBudget() {
  // Another connection of this thread needs room and this one holds the most (see AppendToMessage for 1008).
  // Not inside this session's wslay calls (only the connection that asked is), so failing it here is safe.
  if (ctx_ != nullptr && fail_code_ == 0) Fail(1008);
  ReleaseMessage();
  host_->Wake();
}

bool Session::ReceivingMessage() const {
  // Not while the user has paused reading: then the peer is not the one holding the message up.
  return in_message_ && !read_paused_ && fail_code_ == 0 && ctx_ != nullptr && !fatal_ &&
         wslay_event_want_read(ctx_);
}

void Session::FailIncompleteMessage() {
  if (ReceivingMessage()) Fail(1008);  // a policy of ours (messageTimeout), not a protocol error
}

void Session::OnOutOfMemory() {
  if (ctx_ != nullptr && fail_code_ == 0) Fail(1011);
  else ReleaseMessage();
}

void Session::GatherClosePayload(const uint8_t* data, size_t len) {
  if (fail_code_ != 0) return;
  close_payload_.insert(close_payload_.end(), data, data + len);
  if (close_payload_.size() != close_payload_expected_) return;
  // The whole close frame is here. We check it ourselves: wslay 1.1.1 rejects 1012–1014, accepts a 1-byte body,
  // and checks a reason split across reads from the wrong offset.
  if (close_payload_.empty()) {
    recv_code_ = 1005;
    return;
  }
  uint16_t code = static_cast<uint16_t>(close_payload_[0] << 8 | close_payload_[1]);
  if (!IsValidReceivedCode(code)) {
    Fail(1002);
    return;
  }
  if (!IsValidUtf8(close_payload_.data() + 2, close_payload_.size() - 2)) {
    Fail(1007);
    return;
  }
  recv_code_ = code;
  recv_reason_.assign(reinterpret_cast<const char*>(close_payload_.data()) + 2, close_payload_.size() - 2);
  // Echo the code before wslay handles the frame, so its own answer (1002 for 1012–1014) finds a close queued.
  close_queued_ = true;
  wslay_event_queue_close(ctx_, code, nullptr, 0);
}

void Session::OnMsgRecv(const wslay_event_on_msg_recv_arg* arg) {
  if (arg->opcode == WSLAY_CONNECTION_CLOSE || fail_code_ != 0) return;
  if (arg->opcode == WSLAY_PING && !close_queued_ && wslay_event_get_write_enabled(ctx_)) {
    // wslay queued a pong (it queues none once a close is queued). Past maxPendingPongs unwritten ones reading
    // stops until some are out, so a peer that pings without reading meets TCP backpressure, not a growing queue.
    ++pongs_unsent_;
  }
  if (!wslay_is_ctrl_frame(arg->opcode)) {
    // A data message: assembled in message_ (or whole in wslay's buffer); empty without buffering.
    in_message_ = false;
    const uint8_t* data = whole_ != nullptr ? whole_ : message_.data();
    size_t len = whole_ != nullptr ? whole_len_ : message_.size();
    if (host_->Wants(SessionHost::kMessage)) {
      uint8_t rsv = message_compressed_ ? (arg->rsv & ~WSLAY_RSV1_BIT) : arg->rsv;
      Deliver(SessionHost::kMessage, 1, rsv, arg->opcode, 0, len, data, len);
      if (last_frame_fast_) batch_pending_ = true;
    }
    ReleaseMessage();
    SendFromRecv();
    return;
  }
  if (host_->Wants(SessionHost::kMessage)) {
    Deliver(SessionHost::kMessage, 1, arg->rsv, arg->opcode, arg->status_code, arg->msg_length, arg->msg,
            arg->msg_length);
  }
  SendFromRecv();
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery

void Session::Deliver(SessionHost::Event kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status,
                      uint64_t length, const uint8_t* data, size_t len) {
  // Paused after close(): we read on only to find the peer's close. Holding what comes before it would let the peer
  // grow our memory without bound, so it is dropped.
  if (kind != SessionHost::kMessage) FlushBatch();
  if (terminated_ || !host_->CanDeliver() || DiscardingInput()) return;  // terminate(): nothing more
  if (read_paused_ || HasHeld()) {
    if (buffers_->InjectedFailure(ThreadBuffers::Growth::kOther)) throw std::bad_alloc();  // test hook
    HeldEvent ev{kind, fin, rsv, opcode, status, length, {}};
    if (len) ev.data.assign(data, data + len);
    held_.push_back(std::move(ev));
    return;
  }
  DeliverNow(kind, fin, rsv, opcode, status, length, data, len);
}

void Session::DeliverHeld() {
  // Also after a failure: every held event came before the frame that failed the connection.
  while (HasHeld() && !read_paused_ && host_->CanDeliver()) {
    HeldEvent ev = std::move(held_[held_head_++]);
    DeliverNow(ev.kind, ev.fin, ev.rsv, ev.opcode, ev.status, ev.length, ev.data.data(), ev.data.size());
  }
  if (!HasHeld() && !held_.empty()) {
    held_ = {};
    held_head_ = 0;
  }
}

void Session::DeliverNow(SessionHost::Event kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status,
                         uint64_t length, const uint8_t* data, size_t len) {
  switch (kind) {
    case SessionHost::kMessage:
      host_->OnMessage(rsv, opcode, data, len, status);
      break;
    case SessionHost::kFrameStart:
      host_->OnFrameStart(fin != 0, rsv, opcode, length);
      break;
    case SessionHost::kFrameChunk:
      host_->OnFrameChunk(data, len);
      break;
    case SessionHost::kFrameEnd:
      host_->OnFrameEnd();
      break;
  }
}

}  // namespace wslay_node

namespace wslay_node {

QueueResult Session::QueuePublished(uint8_t opcode, const uint8_t* data, size_t len, bool compress) {
  if (compress) return Queue(opcode, data, len, 0);
  if (close_requested_) return QueueResult::kClosing;
  // A quiet subscriber gets its wslay context back, as for Queue() (on the plain path wslay's queue takes it).
  if (!Wake()) return QueueResult::kNoMemory;
  if (config_.max_backpressure != 0 && BufferedAmount() + len > config_.max_backpressure) {
    return QueueResult::kBackpressure;
  }
  return QueueFramed(opcode, data, len, 0);  // as Queue() without compressing
}

}  // namespace wslay_node
