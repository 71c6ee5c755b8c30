#include "connection.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "addon_data.h"
#include "socket_io.h"

namespace wslay_node {

namespace {

// At most this many 64 KiB reads per poll event, so one fast peer cannot starve the loop (level-triggered polling
// brings us back for the rest).
constexpr int kMaxReadsPerEvent = 4;

Connection* Of(void* user_data) { return static_cast<Connection*>(user_data); }

ssize_t RecvCallback(wslay_event_context_ptr, uint8_t* buf, size_t len, int, void* user_data) {
  return Of(user_data)->OnRecv(buf, len);
}
ssize_t SendCallback(wslay_event_context_ptr, const uint8_t* data, size_t len, int, void* user_data) {
  return Of(user_data)->OnSend(data, len);
}
int GenmaskCallback(wslay_event_context_ptr, uint8_t* buf, size_t len, void* user_data) {
  return Of(user_data)->OnGenmask(buf, len);
}
void FrameRecvStartCallback(wslay_event_context_ptr, const wslay_event_on_frame_recv_start_arg* arg,
                            void* user_data) {
  Of(user_data)->OnFrameRecvStart(arg);
}
void FrameRecvChunkCallback(wslay_event_context_ptr, const wslay_event_on_frame_recv_chunk_arg* arg,
                            void* user_data) {
  Of(user_data)->OnFrameRecvChunk(arg);
}
void FrameRecvEndCallback(wslay_event_context_ptr, void* user_data) { Of(user_data)->OnFrameRecvEnd(); }
void MsgRecvCallback(wslay_event_context_ptr, const wslay_event_on_msg_recv_arg* arg, void* user_data) {
  Of(user_data)->OnMsgRecv(arg);
}

const wslay_event_callbacks kCallbacks = {
    RecvCallback,           SendCallback,           GenmaskCallback,      FrameRecvStartCallback,
    FrameRecvChunkCallback, FrameRecvEndCallback,   MsgRecvCallback,
};

// Codes a peer may send (RFC 6455 §7.4 and the IANA registry, which adds 1012–1014; wslay 1.1.1 rejects those).
bool IsValidReceivedCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

uint32_t GetUint32(Napi::Object options, const char* name, uint32_t fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

// The bytes of a string, Buffer, TypedArray, DataView or ArrayBuffer. Strings are encoded into `storage`.
bool GetBytes(Napi::Env env, Napi::Value value, std::string* storage, const uint8_t** data, size_t* len) {
  if (value.IsBuffer() || value.IsTypedArray()) {
    Napi::TypedArray array = value.As<Napi::TypedArray>();
    Napi::ArrayBuffer buffer = array.ArrayBuffer();
    *data = static_cast<const uint8_t*>(buffer.Data()) + array.ByteOffset();
    *len = array.ByteLength();
    return true;
  }
  if (value.IsString()) {
    size_t n = 0;
    napi_get_value_string_utf8(env, value, nullptr, 0, &n);
    storage->resize(n + 1);
    napi_get_value_string_utf8(env, value, &(*storage)[0], n + 1, &n);
    storage->resize(n);
    *data = reinterpret_cast<const uint8_t*>(storage->data());
    *len = n;
    return true;
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer buffer = value.As<Napi::ArrayBuffer>();
    *data = static_cast<const uint8_t*>(buffer.Data());
    *len = buffer.ByteLength();
    return true;
  }
  if (value.IsDataView()) {
    Napi::DataView view = value.As<Napi::DataView>();
    *data = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    *len = view.ByteLength();
    return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Construction and the JS surface

Napi::Function Connection::DefineClass(Napi::Env env) {
  return ObjectWrap<Connection>::DefineClass(
      env, "NativeConnection",
      {
          InstanceMethod<&Connection::Attach>("_attach"),
          InstanceMethod<&Connection::QueueMsg>("_queueMsg"),
          InstanceMethod<&Connection::QueueFragmented>("_queueFragmented"),
          InstanceMethod<&Connection::Wait>("_wait"),
          InstanceMethod<&Connection::Close>("_close"),
          InstanceMethod<&Connection::SetFlow>("_setFlow"),
          InstanceMethod<&Connection::Shutdown>("_shutdown"),
          InstanceMethod<&Connection::SetCallback>("_setCallback"),
          InstanceMethod<&Connection::Abort>("_abort"),
          InstanceMethod<&Connection::QueuedCount>("queuedCount"),
          InstanceMethod<&Connection::Ref>("ref"),
          InstanceMethod<&Connection::Unref>("unref"),
          InstanceAccessor<&Connection::BufferedAmount>("bufferedAmount"),
          InstanceAccessor<&Connection::ReadyState>("readyState"),
      });
}

Connection::Connection(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Connection>(info) {
  Napi::Env env = info.Env();
  data_ = env.GetInstanceData<AddonData>();
  if (!info[0].IsObject()) {
    Napi::TypeError::New(env, "options must be an object").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object options = info[0].As<Napi::Object>();
  server_ = options.Get("server").ToBoolean();
  buffering_ = options.Get("buffering").ToBoolean();
  Napi::Value max_recv = options.Get("maxRecvSize");
  max_recv_size_ = max_recv.IsNumber() ? static_cast<uint64_t>(max_recv.As<Napi::Number>().DoubleValue())
                                        : (uint64_t{1} << 26);
  close_timeout_ms_ = GetUint32(options, "closeTimeout", 5000);
  max_fragments_ = GetUint32(options, "maxFragments", 1u << 17);
  max_pending_pongs_ = GetUint32(options, "maxPendingPongs", 1024);
  uint32_t allowed_rsv = GetUint32(options, "allowedRsv", 0);

  int r = server_ ? wslay_event_context_server_init(&ctx_, &kCallbacks, this)
                  : wslay_event_context_client_init(&ctx_, &kCallbacks, this);
  if (r != 0) {
    ctx_ = nullptr;
    Napi::Error::New(env, "out of memory creating the wslay context").ThrowAsJavaScriptException();
    return;
  }
  wslay_event_config_set_no_buffering(ctx_, buffering_ ? 0 : 1);
  wslay_event_config_set_max_recv_msg_length(ctx_, max_recv_size_);
  wslay_event_config_set_allowed_rsv_bits(ctx_, static_cast<uint8_t>(allowed_rsv));
  if (options.Get("deflate").IsObject()) SetupDeflate(options.Get("deflate").As<Napi::Object>());

  napi_value name;
  napi_create_string_utf8(env, "wslay.WebSocketConnection", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, nullptr, name, &async_context_);

  data_->live.insert(this);
  ObjectWrap::Ref();  // alive while open, even when the user keeps no reference
  self_ref_ = true;
}

void Connection::SetupDeflate(Napi::Object o) {
  DeflateParams params;
  params.compressWindowBits = static_cast<int>(GetUint32(o, "compressWindowBits", 15));
  params.decompressWindowBits = static_cast<int>(GetUint32(o, "decompressWindowBits", 15));
  params.compressNoContextTakeover = o.Get("compressNoContextTakeover").ToBoolean();
  params.decompressNoContextTakeover = o.Get("decompressNoContextTakeover").ToBoolean();
  Napi::Value level = o.Get("level");
  params.level = level.IsNumber() ? level.As<Napi::Number>().Int32Value() : -1;
  params.memLevel = static_cast<int>(GetUint32(o, "memLevel", 8));
  deflate_threshold_ = GetUint32(o, "threshold", 1024);
  compressor_.reset(new MessageCompressor(params));
  decompressor_.reset(new MessageDecompressor(params));
  wslay_event_config_set_allowed_rsv_bits(ctx_, WSLAY_RSV1_BIT);  // RSV1 marks compressed messages
}

Connection::~Connection() {
  if (state_ != State::kClosed) Abandon();
  if (async_context_ != nullptr) napi_async_destroy(Env(), async_context_);
}

bool Connection::CheckUsable(Napi::Env env) {
  if (state_ == State::kClosed || ctx_ == nullptr) {
    Napi::Error::New(env, "the WebSocket connection is closed").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value Connection::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckUsable(env)) return env.Undefined();
  if (state_ != State::kPending) {
    Napi::Error::New(env, "the connection already has a socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  bool duplicate = info[2].ToBoolean();
  std::string error;
  int own = AdoptSocketFd(fd, duplicate, &error);
  if (own < 0) {
    Napi::TypeError::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int r = poll_.Init([&](uv_poll_t* h) { return uv_poll_init_socket(data_->loop(), h, own); });
  if (r != 0) {
    if (duplicate) ::close(own);
    Napi::Error::New(env, std::string("cannot poll the socket: ") + uv_strerror(r)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  poll_.get()->data = this;
  if (!loop_ref_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  fd_ = own;
  state_ = State::kOpen;
  if (info[1].IsTypedArray()) {
    Napi::TypedArray head = info[1].As<Napi::TypedArray>();
    const uint8_t* p = static_cast<const uint8_t*>(head.ArrayBuffer().Data()) + head.ByteOffset();
    kept_input_.assign(p, p + head.ByteLength());
  }
  // Bytes already read past the handshake, or messages queued before the socket arrived: start on a later turn.
  data_->Defer(this);
  UpdatePoll();
  return env.Undefined();
}

Napi::Value Connection::Abort(const Napi::CallbackInfo& info) {
  if (state_ == State::kClosed) return info.Env().Undefined();
  if (info[0].ToBoolean()) {
    // The constructor failed: the object never became a connection, so release it without onClose.
    Abandon();
    for (auto& cb : callbacks_) cb.Reset();
    if (self_ref_) {
      self_ref_ = false;
      ObjectWrap::Unref();
    }
  } else {
    // The socket could not be taken over (it closed before its writes flushed): an abnormal closure.
    fatal_ = true;
    data_->Defer(this);
  }
  return info.Env().Undefined();
}

Napi::Value Connection::QueueMsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckUsable(env)) return env.Undefined();
  uint32_t opcode = info[1].As<Napi::Number>().Uint32Value();
  uint32_t rsv = info[2].As<Napi::Number>().Uint32Value();
  if (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME && opcode != WSLAY_PING && opcode != WSLAY_PONG) {
    Napi::RangeError::New(env, "opcode must be TEXT (1), BINARY (2), PING (9) or PONG (10); use close() to close")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string storage;
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!GetBytes(env, info[0], &storage, &data, &len)) {
    Napi::TypeError::New(env, "message must be a string, Buffer, TypedArray, DataView or ArrayBuffer")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (close_requested_) {
    Napi::Error::New(env, "close() was called: no more messages can be queued").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (wslay_is_ctrl_frame(opcode) && (len > 125 || rsv != 0)) {
    Napi::RangeError::New(env, "a control frame carries at most 125 bytes and no RSV bits")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (compressor_ && (rsv & WSLAY_RSV1_BIT)) {
    Napi::RangeError::New(env, "RSV1 belongs to the negotiated permessage-deflate; send plain data with queueMsg")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<uint8_t> compressed;
  if (compressor_ && !wslay_is_ctrl_frame(opcode) && len >= deflate_threshold_ && lazy_compressed_pending_ == 0) {
    // Compressed now, in queue order, which is send order: the compression context follows the peer's.
    if (!compressor_->Compress(data, len, true, &compressed)) {
      Napi::Error::New(env, "compression failed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    data = compressed.data();
    len = compressed.size();
    rsv |= WSLAY_RSV1_BIT;
  }
  wslay_event_msg msg = {static_cast<uint8_t>(opcode), data, len};
  int r = wslay_event_queue_msg_ex(ctx_, &msg, static_cast<uint8_t>(rsv));
  if (r != 0) {
    if (r == WSLAY_ERR_INVALID_ARGUMENT) {
      Napi::RangeError::New(env, "rsv has bits that were not negotiated (see the allowedRsv option)")
          .ThrowAsJavaScriptException();
    } else if (r == WSLAY_ERR_NO_MORE_MSG) {
      Napi::Error::New(env, "the connection is closing: no more messages can be queued")
          .ThrowAsJavaScriptException();
    } else {
      Napi::Error::New(env, "out of memory queueing the message").ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }
  source_starved_ = false;  // a new message may be a control frame that can go out between fragments
  if (depth_ == 0) UpdatePoll();
  return env.Undefined();
}

Napi::Value Connection::QueueFragmented(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckUsable(env)) return env.Undefined();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "source must be a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t opcode = info[1].As<Napi::Number>().Uint32Value();
  uint32_t rsv = info[2].As<Napi::Number>().Uint32Value();
  if (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME) {
    Napi::RangeError::New(env, "a fragmented message must be TEXT (1) or BINARY (2)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (close_requested_) {
    Napi::Error::New(env, "close() was called: no more messages can be queued").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (compressor_ && (rsv & WSLAY_RSV1_BIT)) {
    Napi::RangeError::New(env, "RSV1 belongs to the negotiated permessage-deflate; use queueFragmented")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  sources_.emplace_back();
  FragmentSource& source = sources_.back();
  source.owner = this;
  source.fn = Napi::Persistent(info[0].As<Napi::Function>());
  if (compressor_) {
    source.compress = true;
    rsv |= WSLAY_RSV1_BIT;  // wslay sets it on the first frame only
  }
  wslay_event_fragmented_msg msg;
  std::memset(&msg, 0, sizeof msg);
  msg.opcode = static_cast<uint8_t>(opcode);
  msg.source.data = &source;
  msg.read_callback = [](wslay_event_context_ptr, uint8_t* buf, size_t len, const wslay_event_msg_source* src,
                         int* eof, void*) -> ssize_t {
    FragmentSource* s = static_cast<FragmentSource*>(src->data);
    return s->owner->OnFragmentRead(s, buf, len, eof);
  };
  int r = wslay_event_queue_fragmented_msg_ex(ctx_, &msg, static_cast<uint8_t>(rsv));
  if (r == 0 && source.compress) ++lazy_compressed_pending_;
  if (r != 0) {
    sources_.pop_back();
    if (r == WSLAY_ERR_INVALID_ARGUMENT) {
      Napi::RangeError::New(env, "rsv has bits that were not negotiated (see the allowedRsv option)")
          .ThrowAsJavaScriptException();
    } else if (r == WSLAY_ERR_NO_MORE_MSG) {
      Napi::Error::New(env, "the connection is closing: no more messages can be queued")
          .ThrowAsJavaScriptException();
    } else {
      Napi::Error::New(env, "out of memory queueing the message").ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }
  source_starved_ = false;
  if (depth_ == 0) UpdatePoll();
  return env.Undefined();
}

Napi::Value Connection::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckUsable(env)) return env.Undefined();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "wait() takes a callback function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  waiter_ = Napi::Persistent(info[0].As<Napi::Function>());
  // Never called from here: Process() fires it once the queue is empty, at the latest on the next turn.
  if (depth_ == 0) data_->Defer(this);
  return env.Undefined();
}

Napi::Value Connection::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ == State::kClosed || close_requested_) return env.Undefined();  // closing twice is a no-op
  close_requested_ = true;
  close_code_ = info[0].IsNumber() ? static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value()) : 0;
  if (info[1].IsTypedArray()) {
    Napi::TypedArray reason = info[1].As<Napi::TypedArray>();
    close_reason_.assign(static_cast<const char*>(reason.ArrayBuffer().Data()) + reason.ByteOffset(),
                         reason.ByteLength());
  }
  // The close frame is queued once everything queued before it is out (SendPhase); wslay on its own would send it
  // first and drop the rest.
  if (depth_ == 0) data_->Defer(this);
  return env.Undefined();
}

Napi::Value Connection::QueuedCount(const Napi::CallbackInfo& info) {
  size_t n = ctx_ ? wslay_event_get_queued_msg_count(ctx_) : 0;
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value Connection::BufferedAmount(const Napi::CallbackInfo& info) {
  size_t n = ctx_ ? wslay_event_get_queued_msg_length(ctx_) : 0;
  n += backlog_.size() - backlog_offset_;
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value Connection::ReadyState(const Napi::CallbackInfo& info) {
  const char* s = "open";
  if (state_ == State::kPending) s = "connecting";
  else if (state_ == State::kClosed) s = "closed";
  else if (close_requested_ || close_queued_ || recv_code_ != 0 || fail_code_ != 0) s = "closing";
  return Napi::String::New(info.Env(), s);
}

Napi::Value Connection::SetFlow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckUsable(env)) return env.Undefined();
  if (info[0].IsBoolean()) {
    bool resume = info[0].As<Napi::Boolean>().Value();
    read_paused_ = !resume;
    // Held events and kept input need no readiness from the fd: deliver them on a later turn.
    if (resume && (!held_.empty() || kept_offset_ < kept_input_.size())) data_->Defer(this);
  }
  if (info[1].IsBoolean()) {
    bool resume = info[1].As<Napi::Boolean>().Value();
    write_paused_ = !resume;
    if (resume) source_starved_ = false;
  }
  if (depth_ == 0) UpdatePoll();
  return env.Undefined();
}

Napi::Value Connection::Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckUsable(env)) return env.Undefined();
  if (info[0].ToBoolean()) wslay_event_shutdown_read(ctx_);
  if (info[1].ToBoolean()) wslay_event_shutdown_write(ctx_);
  // With neither direction left the connection is over; Process() decides that after wslay has returned.
  if (depth_ == 0) data_->Defer(this);
  return env.Undefined();
}

Napi::Value Connection::SetCallback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  if (slot >= kSlotCount) return env.Undefined();
  if (info[1].IsFunction()) {
    callbacks_[slot] = Napi::Persistent(info[1].As<Napi::Function>());
  } else {
    callbacks_[slot].Reset();
  }
  return env.Undefined();
}

Napi::Value Connection::Ref(const Napi::CallbackInfo& info) {
  loop_ref_ = true;
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  if (close_timer_) uv_ref(reinterpret_cast<uv_handle_t*>(close_timer_.get()));
  return info.This();
}

Napi::Value Connection::Unref(const Napi::CallbackInfo& info) {
  loop_ref_ = false;
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  if (close_timer_) uv_unref(reinterpret_cast<uv_handle_t*>(close_timer_.get()));
  return info.This();
}

// ---------------------------------------------------------------------------------------------------------------
// The event cycle

void Connection::Process(int events) {
  if (state_ == State::kClosed) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  ++depth_;
  if (state_ == State::kOpen && !fatal_) {
    DeliverHeld();
    fd_readable_ = (events & UV_READABLE) != 0;
    reads_this_event_ = 0;
    if (fd_readable_ || kept_offset_ < kept_input_.size()) ReadPhase();
    FlushGather();  // what SendFromRecv gathered (the shared buffer must be empty when this event ends)
    if (!fatal_) SendPhase();
  }
  --depth_;
  FinishIfOver();
  if (state_ == State::kOpen) {
    UpdatePoll();
    MaybeFireWaiter();
  }
  // Leave no member access after the self-reference is dropped: the object may be collected from here on.
  napi_callback_scope callback_scope = callback_scope_;
  callback_scope_ = nullptr;
  if (state_ == State::kClosed && self_ref_) {
    self_ref_ = false;
    ObjectWrap::Unref();
  }
  if (callback_scope != nullptr) napi_close_callback_scope(env, callback_scope);  // runs nextTicks and microtasks
}

void Connection::ReadPhase() {
  if (ReadBlocked() || !wslay_event_want_read(ctx_)) return;
  in_recv_ = true;
  int r = wslay_event_recv(ctx_);
  in_recv_ = false;
  if (in_cur_ != in_end_) {
    // Stopped in the middle of the shared buffer (paused, or closed): keep the rest if it can still matter.
    if (wslay_event_want_read(ctx_)) {
      kept_input_.erase(kept_input_.begin(), kept_input_.begin() + kept_offset_);
      kept_offset_ = 0;
      kept_input_.insert(kept_input_.end(), in_cur_, in_end_);
    }
    in_cur_ = in_end_ = nullptr;
  }
  if (r != 0) {
    fatal_ = true;
    // Not our I/O: a framing error found by wslay's frame layer (bad length encoding, oversized or fragmented
    // control frame). wslay would answer with a code-less close; RFC 6455 wants 1002.
    if (r == WSLAY_ERR_CALLBACK_FAILURE && !eof_ && io_error_ == 0) FailRaw(1002);
    else if (r == WSLAY_ERR_NOMEM) FailRaw(1011);
  }
}

void Connection::SendPhase() {
  for (;;) {
    if (HasUnsentBytes() && !FlushBacklog()) return;  // the socket is full: the poll handle waits for writable
    if (!SendBlocked() && wslay_event_want_write(ctx_)) {
      int r = wslay_event_send(ctx_);
      FlushGather();
      if (r != 0) {
        fatal_ = true;
        if (io_error_ == 0) FailRaw(1011);  // a fragmented source or genmask failed
        return;
      }
    }
    if (io_error_ != 0) {
      fatal_ = true;
      return;
    }
    if (wslay_event_get_queued_msg_count(ctx_) == 0 && !HasUnsentBytes()) {
      pings_pending_ = 0;
      pong_backpressure_ = false;
    }
    if (close_requested_ && !close_queued_ && wslay_event_get_queued_msg_count(ctx_) == 0) {
      close_queued_ = true;
      // NO_MORE_MSG means a close is already on its way (the peer's echo, or a protocol failure).
      int r = wslay_event_queue_close(ctx_, close_code_,
                                      reinterpret_cast<const uint8_t*>(close_reason_.data()),
                                      close_reason_.size());
      if (r == 0) continue;
    }
    return;
  }
}

void Connection::FinishIfOver() {
  if (state_ == State::kClosed || depth_ > 0) return;
  if (state_ == State::kPending) {
    if (fatal_) Teardown();
    return;
  }
  bool want_read = wslay_event_want_read(ctx_);
  bool want_write = wslay_event_want_write(ctx_) || HasUnsentBytes();
  if (fatal_ || eof_ || io_error_ != 0 || timed_out_ || (!want_read && !want_write)) {
    Teardown();
    return;
  }
  // Closing from either side: a peer that never answers or never reads must not hold the fd forever.
  bool closing = close_queued_ || recv_code_ != 0 || fail_code_ != 0 || !want_read ||
                 wslay_event_get_close_sent(ctx_);
  if (closing && !close_timer_) StartCloseTimer();
}

void Connection::UpdatePoll() {
  if (state_ != State::kOpen || !poll_) return;
  int events = 0;
  if (!fatal_) {
    if (!ReadBlocked() && wslay_event_want_read(ctx_)) events |= UV_READABLE;
    if (HasUnsentBytes() || (!SendBlocked() && wslay_event_want_write(ctx_))) events |= UV_WRITABLE;
    // close() waiting for an empty queue is handled by SendPhase once the queue drains; when the queue is already
    // empty it needs one pass (Close() deferred it).
  }
  if (events == poll_events_) return;
  poll_events_ = events;
  if (events != 0) {
    uv_poll_start(poll_.get(), events, [](uv_poll_t* handle, int status, int ready) {
      Connection* self = static_cast<Connection*>(handle->data);
      if (status < 0) {
        self->io_error_ = -status;
        self->fatal_ = true;
      }
      self->Process(status < 0 ? 0 : ready);
    });
  } else {
    uv_poll_stop(poll_.get());
  }
}

void Connection::StartCloseTimer() {
  if (close_timeout_ms_ == 0) return;
  int r = close_timer_.Init([&](uv_timer_t* t) { return uv_timer_init(data_->loop(), t); });
  if (r != 0) return;
  close_timer_.get()->data = this;
  if (!loop_ref_) uv_unref(reinterpret_cast<uv_handle_t*>(close_timer_.get()));
  uv_timer_start(close_timer_.get(), [](uv_timer_t* timer) {
    Connection* self = static_cast<Connection*>(timer->data);
    self->timed_out_ = true;
    self->Process(0);
  }, close_timeout_ms_, 0);
}

void Connection::MaybeFireWaiter() {
  if (waiter_.IsEmpty() || state_ != State::kOpen) return;
  if (wslay_event_get_queued_msg_count(ctx_) != 0 || HasUnsentBytes()) return;
  Napi::FunctionReference cb = std::move(waiter_);
  CallJs(cb, {});
}

void Connection::Teardown() {
  Napi::Env env = Env();
  bool close_sent = ctx_ != nullptr && wslay_event_get_close_sent(ctx_);
  uint16_t sent_code = close_sent ? wslay_event_get_status_code_sent(ctx_) : 0;
  if (raw_close_sent_ != 0) sent_code = raw_close_sent_;
  uint16_t code;
  if (recv_code_ != 0) {
    code = recv_code_;
  } else if (fail_code_ != 0) {
    code = fail_code_;
  } else if (close_sent && !close_requested_ &&
             (sent_code == 1002 || sent_code == 1007 || sent_code == 1009 || sent_code == 1011)) {
    code = sent_code;  // wslay failed the connection itself (bad opcode, RSV, mask, UTF-8, size)
  } else {
    code = 1006;
  }
  bool was_clean = close_sent && recv_code_ != 0 && io_error_ == 0;
  double unsent_messages = ctx_ ? static_cast<double>(wslay_event_get_queued_msg_count(ctx_)) : 0;
  double unsent_bytes = static_cast<double>((ctx_ ? wslay_event_get_queued_msg_length(ctx_) : 0) +
                                            (backlog_.size() - backlog_offset_));

  Abandon();

  Napi::Object closeInfo = Napi::Object::New(env);
  closeInfo.Set("code", Napi::Number::New(env, code));
  closeInfo.Set("reason", Napi::String::New(env, recv_reason_));
  closeInfo.Set("wasClean", Napi::Boolean::New(env, was_clean));
  if (sent_code != 0) closeInfo.Set("sentCode", Napi::Number::New(env, sent_code));
  closeInfo.Set("unsentMessages", Napi::Number::New(env, unsent_messages));
  closeInfo.Set("unsentBytes", Napi::Number::New(env, unsent_bytes));
  if (io_error_ != 0) closeInfo.Set("errno", Napi::Number::New(env, io_error_));
  if (timed_out_) closeInfo.Set("timedOut", Napi::Boolean::New(env, true));
  Napi::FunctionReference on_close = std::move(callbacks_[kOnClose]);
  for (auto& cb : callbacks_) cb.Reset();
  CallJs(on_close, {Napi::Number::New(env, code), closeInfo});
}

void Connection::Abandon() {
  state_ = State::kClosed;
  data_->CancelDeferred(this);
  data_->live.erase(this);
  close_timer_.Reset();
  poll_.Reset();  // uv_close removes the fd from epoll now, while the fd number is still ours
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (ctx_ != nullptr) {
    wslay_event_context_free(ctx_);
    ctx_ = nullptr;
  }
  sources_.clear();
  lazy_compressed_pending_ = 0;
  held_.clear();
  kept_input_ = {};
  backlog_ = {};
  backlog_offset_ = 0;
  waiter_.Reset();
}

void Connection::Fail(uint16_t code) {
  if (fail_code_ == 0) fail_code_ = code;
  close_queued_ = true;
  wslay_event_queue_close(ctx_, code, nullptr, 0);  // NO_MORE_MSG when a close is already queued: keep that one
  wslay_event_shutdown_read(ctx_);
}

void Connection::FailRaw(uint16_t code) {
  if (fail_code_ == 0) fail_code_ = code;
  fatal_ = true;
  // Write the close frame ourselves, but only between frames and only if no close went out yet.
  if (send_mid_frame_ || wslay_event_get_close_sent(ctx_) || raw_close_sent_ != 0) return;
  uint8_t frame[8] = {0x88, 0x02};
  size_t n = 2;
  uint8_t payload[2] = {static_cast<uint8_t>(code >> 8), static_cast<uint8_t>(code & 0xff)};
  if (!server_) {
    frame[1] |= 0x80;
    uint8_t mask[4];
    if (!data_->NextMask(mask, 4)) return;
    std::memcpy(frame + 2, mask, 4);
    n = 6;
    payload[0] ^= mask[0];
    payload[1] ^= mask[1];
  }
  backlog_.insert(backlog_.end(), frame, frame + n);
  backlog_.insert(backlog_.end(), payload, payload + 2);
  raw_close_sent_ = code;
  FlushBacklog();
}

// ---------------------------------------------------------------------------------------------------------------
// wslay's I/O callbacks

ssize_t Connection::OnRecv(uint8_t* buf, size_t len) {
  if (ReadBlocked()) {
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  if (kept_offset_ < kept_input_.size()) {
    size_t n = std::min(len, kept_input_.size() - kept_offset_);
    std::memcpy(buf, kept_input_.data() + kept_offset_, n);
    kept_offset_ += n;
    if (kept_offset_ == kept_input_.size()) {
      kept_input_ = {};
      kept_offset_ = 0;
    }
    return static_cast<ssize_t>(n);
  }
  if (in_cur_ == in_end_) {
    if (!fd_readable_ || reads_this_event_ >= kMaxReadsPerEvent) {
      wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
      return -1;
    }
    ++reads_this_event_;
    uint8_t* shared = data_->read_buffer();
    IoResult r = ReadSome(fd_, shared, AddonData::kReadBufferSize);
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
    // A short read means the socket is drained: skip the read that would only say EAGAIN.
    if (r.bytes < AddonData::kReadBufferSize) fd_readable_ = false;
    in_cur_ = shared;
    in_end_ = shared + r.bytes;
  }
  size_t n = std::min(len, static_cast<size_t>(in_end_ - in_cur_));
  std::memcpy(buf, in_cur_, n);
  in_cur_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t Connection::OnSend(const uint8_t* data, size_t len) {
  if (HasUnsentBytes() && !FlushBacklog()) {
    send_mid_frame_ = true;
    wslay_event_set_error(ctx_, io_error_ ? WSLAY_ERR_CALLBACK_FAILURE : WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  AddonData& d = *data_;
  if (d.gather_used + len <= AddonData::kGatherSize) {
    std::memcpy(d.gather() + d.gather_used, data, len);
    d.gather_used += len;
    send_mid_frame_ = false;
    return static_cast<ssize_t>(len);
  }
  // Too much to gather: write what is gathered and this chunk in one syscall, without copying the chunk.
  IoResult r = WriteSome(fd_, d.gather(), d.gather_used, data, len);
  if (r.status == IoStatus::kError) {
    io_error_ = r.error;
    d.gather_used = 0;
    wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  size_t written = r.status == IoStatus::kOk ? r.bytes : 0;
  if (written < d.gather_used) {
    backlog_.insert(backlog_.end(), d.gather() + written, d.gather() + d.gather_used);
    d.gather_used = 0;
    send_mid_frame_ = true;
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  size_t taken = written - d.gather_used;
  d.gather_used = 0;
  send_mid_frame_ = taken < len;
  if (taken == 0) {
    wslay_event_set_error(ctx_, WSLAY_ERR_WOULDBLOCK);
    return -1;
  }
  return static_cast<ssize_t>(taken);
}

void Connection::FlushGather() {
  AddonData& d = *data_;
  if (d.gather_used == 0) return;
  size_t used = d.gather_used;
  d.gather_used = 0;
  if (HasUnsentBytes()) {  // cannot happen while gathering, but order must hold if it does
    backlog_.insert(backlog_.end(), d.gather(), d.gather() + used);
    FlushBacklog();
    return;
  }
  IoResult r = WriteSome(fd_, d.gather(), used);
  if (r.status == IoStatus::kError) {
    io_error_ = r.error;
    return;
  }
  size_t written = r.status == IoStatus::kOk ? r.bytes : 0;
  if (written < used) backlog_.insert(backlog_.end(), d.gather() + written, d.gather() + used);
}

bool Connection::FlushBacklog() {
  while (HasUnsentBytes()) {
    IoResult r = WriteSome(fd_, backlog_.data() + backlog_offset_, backlog_.size() - backlog_offset_);
    if (r.status == IoStatus::kError) {
      io_error_ = r.error;
      return false;
    }
    if (r.status != IoStatus::kOk || r.bytes == 0) return false;
    backlog_offset_ += r.bytes;
  }
  // Keep a small buffer for the next stall; give a large one back.
  if (backlog_.capacity() > AddonData::kGatherSize) backlog_ = {};
  else backlog_.clear();
  backlog_offset_ = 0;
  return true;
}

int Connection::OnGenmask(uint8_t* buf, size_t len) {
  const Napi::FunctionReference& fn = callbacks_[kGenmask];
  if (fn.IsEmpty()) {
    if (data_->NextMask(buf, len)) return 0;
    wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
  }
  Napi::Env env = Env();
  Napi::Value result = CallJs(fn, {Napi::Number::New(env, static_cast<double>(len))});
  if (!result.IsEmpty() && result.IsTypedArray() && result.As<Napi::TypedArray>().ByteLength() == len) {
    Napi::TypedArray key = result.As<Napi::TypedArray>();
    std::memcpy(buf, static_cast<const uint8_t*>(key.ArrayBuffer().Data()) + key.ByteOffset(), len);
    return 0;
  }
  if (!result.IsEmpty()) {
    ReportError(Napi::RangeError::New(env, "genmask(len) must return a Buffer of exactly len bytes"));
  }
  wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
  return -1;
}

void Connection::FinishSource(FragmentSource* source) {
  if (source->compress && lazy_compressed_pending_ > 0) --lazy_compressed_pending_;
  for (auto it = sources_.begin(); it != sources_.end(); ++it) {
    if (&*it == source) {
      sources_.erase(it);  // wslay calls the read callback no more after EOF or an error
      return;
    }
  }
}

ssize_t Connection::OnFragmentRead(FragmentSource* source, uint8_t* buf, size_t len, int* eof) {
  Napi::Env env = Env();
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

    Napi::Value result = CallJs(source->fn, {Napi::Number::New(env, static_cast<double>(len))});
    int status = 1;  // FragmentedStatus.DATA
    Napi::Value chunk = result;
    if (!result.IsEmpty() && result.IsArray()) {
      Napi::Array pair = result.As<Napi::Array>();
      chunk = pair.Get(uint32_t{0});
      Napi::Value s = pair.Get(uint32_t{1});
      status = s.IsNumber() ? s.As<Napi::Number>().Int32Value() : (s.IsUndefined() ? 1 : -2);
    }
    std::string storage;
    const uint8_t* data = nullptr;
    size_t n = 0;
    bool ok = !result.IsEmpty() && (status == 0 || status == 1);
    if (!result.IsEmpty() && status != 0 && status != 1 && status != -1) {
      ReportError(Napi::RangeError::New(env, "fragmented source status must be FragmentedStatus.DATA, EOF or ERROR"));
    } else if (ok && !chunk.IsUndefined() && !chunk.IsNull() && !GetBytes(env, chunk, &storage, &data, &n)) {
      ReportError(
          Napi::TypeError::New(env, "a fragmented source must return data (string or Buffer) or [data, status]"));
      ok = false;
    }
    bool fin = status == 0;
    if (ok && source->compress && (n > 0 || fin) && !compressor_->Compress(data, n, fin, &source->rest)) ok = false;
    if (!ok) {  // ERROR, an exception, a bad value or a compressor failure: the message cannot be completed
      FinishSource(source);
      wslay_event_set_error(ctx_, WSLAY_ERR_CALLBACK_FAILURE);
      return -1;
    }
    if (source->compress) {
      if (fin) {
        source->eof_after_rest = true;
      } else if (n == 0) {
        source_starved_ = true;  // nothing yet: wait for startWrite() instead of spinning on a writable socket
        return 0;
      }
      continue;  // serve the compressed bytes, or ask for more when zlib kept them all
    }
    size_t copied = std::min(len, n);
    if (copied) std::memcpy(buf, data, copied);
    if (copied < n) source->rest.assign(data + copied, data + n);  // kept for the next call, never dropped
    if (fin) {
      if (copied < n) {
        source->eof_after_rest = true;
      } else {
        *eof = 1;
        FinishSource(source);
      }
    } else if (n == 0) {
      source_starved_ = true;
    }
    return static_cast<ssize_t>(copied);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// wslay's receive callbacks

void Connection::OnFrameRecvStart(const wslay_event_on_frame_recv_start_arg* arg) {
  current_opcode_ = arg->opcode;
  if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
    close_payload_.clear();
    close_payload_expected_ = arg->payload_length;
    if (arg->payload_length == 1) Fail(1002);  // RFC 6455 §5.5.1: empty, or a 2-byte code first
    return;
  }
  if (wslay_is_ctrl_frame(arg->opcode)) return;
  frame_fin_ = arg->fin != 0;
  if (arg->opcode == WSLAY_CONTINUATION_FRAME) {
    if (++fragments_ > max_fragments_) {
      Fail(1009);
      return;
    }
  } else {
    fragments_ = 1;
    message_text_ = arg->opcode == WSLAY_TEXT_FRAME;
    message_compressed_ = decompressor_ && (arg->rsv & WSLAY_RSV1_BIT);
    if (message_compressed_) inflated_utf8_.Reset();
  }
  if (!callbacks_[kOnFrameRecvStart].IsEmpty() && fail_code_ == 0) {
    // RSV1 is ours when we inflate: the user sees the message as if it had been sent plain.
    uint8_t rsv = message_compressed_ ? (arg->rsv & ~WSLAY_RSV1_BIT) : arg->rsv;
    Deliver(HeldEvent::kFrameStart, arg->fin, rsv, arg->opcode, 0, arg->payload_length, nullptr, 0);
  }
}

void Connection::OnFrameRecvChunk(const wslay_event_on_frame_recv_chunk_arg* arg) {
  if (current_opcode_ == WSLAY_CONNECTION_CLOSE) {
    GatherClosePayload(arg->data, arg->data_length);
    return;
  }
  if (wslay_is_ctrl_frame(current_opcode_) || fail_code_ != 0 || arg->data_length == 0) return;
  if (message_compressed_) {
    InflateChunk(arg->data, arg->data_length, false);
    return;
  }
  if (!callbacks_[kOnFrameRecvChunk].IsEmpty()) {
    Deliver(HeldEvent::kFrameChunk, 0, 0, current_opcode_, 0, arg->data_length, arg->data, arg->data_length);
  }
}

void Connection::OnFrameRecvEnd() {
  if (wslay_is_ctrl_frame(current_opcode_) || fail_code_ != 0) return;
  if (message_compressed_ && frame_fin_) {
    InflateChunk(nullptr, 0, true);
    if (fail_code_ != 0) return;
  }
  if (!callbacks_[kOnFrameRecvEnd].IsEmpty()) {
    Deliver(HeldEvent::kFrameEnd, 0, 0, current_opcode_, 0, 0, nullptr, 0);
  }
}

void Connection::InflateChunk(const uint8_t* data, size_t len, bool fin) {
  if (fail_code_ != 0) return;
  size_t before = inflated_.size();
  MessageDecompressor::Result r = decompressor_->Decompress(data, len, fin, max_recv_size_, &inflated_);
  if (r == MessageDecompressor::Result::kTooBig) {
    Fail(1009);
    return;
  }
  if (r == MessageDecompressor::Result::kError) {
    Fail(1007);
    return;
  }
  // wslay skips the UTF-8 check for RSV1 messages; we check what inflates, as it inflates.
  if (message_text_ && (!inflated_utf8_.Feed(inflated_.data() + before, inflated_.size() - before) ||
                        (fin && !inflated_utf8_.Complete()))) {
    Fail(1007);
    return;
  }
  if (!buffering_) {
    if (inflated_.size() > before && !callbacks_[kOnFrameRecvChunk].IsEmpty()) {
      Deliver(HeldEvent::kFrameChunk, 0, 0, current_opcode_, 0, inflated_.size() - before, inflated_.data() + before,
              inflated_.size() - before);
    }
    inflated_.clear();
  }
}

void Connection::GatherClosePayload(const uint8_t* data, size_t len) {
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

void Connection::OnMsgRecv(const wslay_event_on_msg_recv_arg* arg) {
  if (arg->opcode == WSLAY_CONNECTION_CLOSE || fail_code_ != 0) return;
  if (arg->opcode == WSLAY_PING && ++pings_pending_ >= max_pending_pongs_) {
    // wslay queued a pong for each ping; stop reading until they are written, so a peer that pings without
    // reading meets TCP backpressure instead of growing our queue.
    pong_backpressure_ = true;
  }
  if (!wslay_is_ctrl_frame(arg->opcode) && message_compressed_) {
    // The message was inflated chunk by chunk into inflated_ (empty without buffering).
    if (!callbacks_[kOnMsgRecv].IsEmpty()) {
      Deliver(HeldEvent::kMessage, 1, arg->rsv & ~WSLAY_RSV1_BIT, arg->opcode, 0, inflated_.size(),
              inflated_.data(), inflated_.size());
    }
    if (inflated_.capacity() > AddonData::kReadBufferSize) inflated_ = {};
    else inflated_.clear();
    return;
  }
  if (callbacks_[kOnMsgRecv].IsEmpty()) return;
  Deliver(HeldEvent::kMessage, 1, arg->rsv, arg->opcode, arg->status_code, arg->msg_length, arg->msg,
          arg->msg_length);
}

// ---------------------------------------------------------------------------------------------------------------
// Delivery to JS

void Connection::Deliver(HeldEvent::Kind kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status,
                         uint64_t length, const uint8_t* data, size_t len) {
  if (read_paused_ || !held_.empty() || js_failed_) {
    if (js_failed_) return;
    HeldEvent ev{kind, fin, rsv, opcode, status, length, {}};
    if (len) ev.data.assign(data, data + len);
    held_.push_back(std::move(ev));
    return;
  }
  DeliverNow(kind, fin, rsv, opcode, status, length, data, len);
}

void Connection::SendFromRecv() {
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

void Connection::DeliverHeld() {
  while (!held_.empty() && !read_paused_ && fail_code_ == 0 && !js_failed_) {
    HeldEvent ev = std::move(held_.front());
    held_.pop_front();
    DeliverNow(ev.kind, ev.fin, ev.rsv, ev.opcode, ev.status, ev.length, ev.data.data(), ev.data.size());
  }
}

void Connection::DeliverNow(HeldEvent::Kind kind, uint8_t fin, uint8_t rsv, uint8_t opcode, uint16_t status,
                            uint64_t length, const uint8_t* data, size_t len) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  switch (kind) {
    case HeldEvent::kMessage:
      CallJs(callbacks_[kOnMsgRecv],
             {Napi::Number::New(env, rsv), Napi::Number::New(env, opcode),
              len ? Napi::Buffer<uint8_t>::Copy(env, data, len) : Napi::Buffer<uint8_t>::New(env, 0),
              Napi::Number::New(env, status)});
      break;
    case HeldEvent::kFrameStart:
      CallJs(callbacks_[kOnFrameRecvStart],
             {Napi::Boolean::New(env, fin != 0), Napi::Number::New(env, rsv), Napi::Number::New(env, opcode),
              Napi::Number::New(env, static_cast<double>(length))});
      break;
    case HeldEvent::kFrameChunk:
      CallJs(callbacks_[kOnFrameRecvChunk], {Napi::Buffer<uint8_t>::Copy(env, data, len)});
      break;
    case HeldEvent::kFrameEnd:
      CallJs(callbacks_[kOnFrameRecvEnd], {});
      break;
  }
  SendFromRecv();
}

void Connection::OpenCallbackScope() {
  if (callback_scope_ != nullptr) return;
  // One scope per Process(): microtasks and nextTicks run once, after every message of this event is delivered.
  napi_open_callback_scope(Env(), Value(), async_context_, &callback_scope_);
}

Napi::Value Connection::CallJs(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  if (fn.IsEmpty() || js_failed_) return Napi::Value();
  Napi::Env env = Env();
  OpenCallbackScope();
  napi_value result = nullptr;
  napi_status status = napi_call_function(env, Value(), fn.Value(), args.size(), args.begin(), &result);
  if (status == napi_ok) return Napi::Value(env, result);
  napi_value error = nullptr;
  if (napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr) {
    napi_valuetype type;
    napi_typeof(env, error, &type);
    if (type != napi_undefined) {
      // Like a throwing EventEmitter listener: the error reaches process 'uncaughtException', the connection
      // stays consistent and goes on.
      napi_fatal_exception(env, error);
      return Napi::Value();
    }
  }
  js_failed_ = true;  // the environment is terminating: no more JS
  return Napi::Value();
}

void Connection::ReportError(const Napi::Error& error) { napi_fatal_exception(Env(), error.Value()); }

}  // namespace wslay_node
