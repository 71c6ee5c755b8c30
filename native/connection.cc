#include "connection.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <new>

#include "addon_data.h"
#include "socket_io.h"

namespace wslay_node {

namespace {

uint32_t GetUint32(Napi::Object options, const char* name, uint32_t fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

// A non-negative number as uint64, saturating: Infinity and anything from 2^64 up become UINT64_MAX (a cast would
// be undefined behaviour), fractions round up (a threshold of 1.5 bytes means 2), NaN and negatives give 0.
uint64_t GetUint64(Napi::Object options, const char* name, uint64_t fallback) {
  Napi::Value v = options.Get(name);
  if (!v.IsNumber()) return fallback;
  double d = std::ceil(v.As<Napi::Number>().DoubleValue());
  if (!(d > 0)) return 0;
  if (d >= 18446744073709551616.0) return UINT64_MAX;
  return static_cast<uint64_t>(d);
}

}  // namespace

// A string's UTF-8 bytes, encoded into `storage`.
bool GetString(napi_env env, napi_value value, std::string* storage, const uint8_t** data, size_t* len) {
  // One encoding pass into room for the worst case (3 UTF-8 bytes per UTF-16 unit; the length query is O(1)).
  size_t units = 0;
  if (napi_get_value_string_utf16(env, value, nullptr, 0, &units) != napi_ok) return false;
  storage->resize(units * 3 + 1);
  size_t n = 0;
  if (napi_get_value_string_utf8(env, value, &(*storage)[0], storage->size(), &n) != napi_ok) return false;
  *data = reinterpret_cast<const uint8_t*>(storage->data());
  *len = n;
  return true;
}

// The bytes of a string, Buffer, TypedArray, DataView or ArrayBuffer. Strings are encoded into `storage`.
bool GetBytes(Napi::Env env, Napi::Value value, std::string* storage, const uint8_t** data, size_t* len) {
  bool is_typed_array = false;
  napi_is_typedarray(env, value, &is_typed_array);
  if (is_typed_array) {  // Buffers too; one call gives the data pointer, already offset (the hot path of queueMsg)
    napi_typedarray_type type;
    size_t count = 0;
    void* bytes = nullptr;
    if (napi_get_typedarray_info(env, value, &type, &count, &bytes, nullptr, nullptr) != napi_ok) return false;
    static const size_t kElementSize[] = {1, 1, 1, 2, 2, 4, 4, 4, 8, 8, 8};  // napi_typedarray_type order
    *data = static_cast<const uint8_t*>(bytes);
    *len = count * (type < sizeof kElementSize / sizeof kElementSize[0] ? kElementSize[type] : 1);
    return true;
  }
  if (value.IsString()) return GetString(env, value, storage, data, len);
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

namespace {

// Values for callback arguments, made with plain N-API calls that report failure: while a worker is being
// terminated they fail, and node-addon-api would turn that failure into a fatal error. nullptr = no value.
napi_value MakeNumber(napi_env env, double v) {
  napi_value r = nullptr;
  return napi_create_double(env, v, &r) == napi_ok ? r : nullptr;
}

// A small non-negative integer (a V8 Smi: cheaper to make than a double). Larger values fall back to a double.
napi_value MakeUint(napi_env env, size_t v) {
  napi_value r = nullptr;
  if (v <= 0x3fffffff) return napi_create_uint32(env, static_cast<uint32_t>(v), &r) == napi_ok ? r : nullptr;
  return MakeNumber(env, static_cast<double>(v));
}

napi_value MakeBuffer(napi_env env, const uint8_t* data, size_t len) {
  static const uint8_t kNothing = 0;
  void* copy = nullptr;
  napi_value r = nullptr;
  return napi_create_buffer_copy(env, len, len ? data : &kNothing, &copy, &r) == napi_ok ? r : nullptr;
}

// An opcode or rsv argument: an integer in [0, max]. Throws (TypeError / RangeError) and returns false otherwise.
bool GetSmallInt(Napi::Env env, Napi::Value value, uint32_t max, const char* name, uint32_t* out) {
  if (!value.IsNumber()) {
    Napi::TypeError::New(env, std::string(name) + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= max && d == static_cast<double>(static_cast<uint32_t>(d)))) {
    Napi::RangeError::New(env, std::string(name) + " must be an integer from 0 to " + std::to_string(max))
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<uint32_t>(d);
  return true;
}

// wslay 1.1.1 sends and accepts RSV1 only (its allowed bits are masked to RSV1): RSV2/RSV3 are refused here with
// a message that says so, rather than as "not negotiated".
bool CheckRsvSupported(Napi::Env env, uint32_t rsv) {
  if ((rsv & (WSLAY_RSV2_BIT | WSLAY_RSV3_BIT)) == 0) return true;
  Napi::RangeError::New(env, "RSV2 and RSV3 are not supported (wslay 1.1.1 handles RSV1 only)")
      .ThrowAsJavaScriptException();
  return false;
}

// A handle scope inside Process()'s, for the send side's callbacks (genmask, fragmented sources), which can run
// for every frame of a long queue in one event: nothing made in it may be cached for the event (its values end with
// it), so caching is off while it is open.
class InnerScope {
 public:
  InnerScope(napi_env env, bool* caching) : scope_(env), caching_(caching), was_(*caching) { *caching = false; }
  ~InnerScope() { *caching_ = was_; }

 private:
  Napi::HandleScope scope_;
  bool* caching_;
  bool was_;
};

napi_value MakeBool(napi_env env, bool v) {
  napi_value r = nullptr;
  return napi_get_boolean(env, v, &r) == napi_ok ? r : nullptr;
}

// Whether the environment can still run JS. Only after something failed: a property read may run JS, so N-API
// refuses it once the environment is terminating (a worker being stopped), while a lack of memory leaves it be.
bool CanRunJs(napi_env env) {
  napi_value probe = nullptr, ignored = nullptr;
  return napi_create_object(env, &probe) == napi_ok && napi_get_named_property(env, probe, "x", &ignored) == napi_ok;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Construction

Napi::Function Connection::DefineClass(Napi::Env env) {
  return ObjectWrap<Connection>::DefineClass(
      env, "NativeConnection",
      {
          InstanceMethod<&Connection::Attach>("_attach"),
          InstanceMethod<&Connection::AttachStream>("_attachStream"),
          InstanceMethod<&Connection::Feed>("_feed"),
          InstanceMethod<&Connection::FeedEnd>("_feedEnd"),
          InstanceMethod<&Connection::Written>("_written"),
          InstanceMethod<&Connection::Handle>("_handle"),
          InstanceMethod<&Connection::QueueFragmented>("_queueFragmented"),
          InstanceMethod<&Connection::Wait>("_wait"),
          InstanceMethod<&Connection::Close>("_close"),
          InstanceMethod<&Connection::SetFlow>("_setFlow"),
          InstanceMethod<&Connection::Shutdown>("_shutdown"),
          InstanceMethod<&Connection::SetCallback>("_setCallback"),
          InstanceMethod<&Connection::Abort>("_abort"),
          InstanceMethod<&Connection::Terminate>("_terminate"),
          InstanceMethod<&Connection::SetReader>("_setReader"),
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
  id_ = data_->Register(this);
  if (!info[0].IsObject()) {
    closed_ = true;  // never a connection: nothing to release
    Napi::TypeError::New(env, "options must be an object").ThrowAsJavaScriptException();
    return;
  }
  Napi::Object options = info[0].As<Napi::Object>();
  SessionConfig config;
  config.server = options.Get("server").ToBoolean();
  config.buffering = options.Get("buffering").ToBoolean();
  config.plain_wslay = options.Get("plainWslay").ToBoolean();
  config.max_recv_size = GetUint64(options, "maxRecvSize", config.max_recv_size);
  config.max_fragments = GetUint32(options, "maxFragments", config.max_fragments);
  config.max_pending_pongs = GetUint32(options, "maxPendingPongs", config.max_pending_pongs);
  config.allowed_rsv = static_cast<uint8_t>(GetUint32(options, "allowedRsv", 0));
  config.max_backpressure = GetUint64(options, "maxBackpressure", 0);
  if (options.Get("deflate").IsObject()) {
    Napi::Object d = options.Get("deflate").As<Napi::Object>();
    config.deflate = true;
    config.deflate_params.compressWindowBits = static_cast<int>(GetUint32(d, "compressWindowBits", 15));
    config.deflate_params.decompressWindowBits = static_cast<int>(GetUint32(d, "decompressWindowBits", 15));
    config.deflate_params.compressNoContextTakeover = d.Get("compressNoContextTakeover").ToBoolean();
    config.deflate_params.decompressNoContextTakeover = d.Get("decompressNoContextTakeover").ToBoolean();
    Napi::Value level = d.Get("level");
    config.deflate_params.level = level.IsNumber() ? level.As<Napi::Number>().Int32Value() : -1;
    config.deflate_params.memLevel = static_cast<int>(GetUint32(d, "memLevel", 8));
    config.deflate_threshold = GetUint64(d, "threshold", 1024);  // Infinity: never compress
  }
  close_timeout_ms_ = GetUint32(options, "closeTimeout", 5000);
  message_timeout_ms_ = GetUint32(options, "messageTimeout", 0);
  idle_ms_ = GetUint64(options, "idleTimeoutMs", 0);
  auto_ping_ = idle_ms_ != 0 && options.Get("sendPingsAutomatically").ToBoolean();
  lifetime_ms_ = GetUint64(options, "maxLifetimeMs", 0);
  drain_threshold_ = GetUint64(options, "drainThreshold", 0);
  close_on_backpressure_limit_ = options.Get("closeOnBackpressureLimit").ToBoolean();
  if (env.IsExceptionPending()) {  // a getter on the options threw: it is thrown from the constructor
    closed_ = true;
    return;
  }

  session_.reset(new Session(config, &data_->buffers, this));
  if (!session_->ok()) {
    closed_ = true;
    Napi::Error::New(env, "out of memory creating the wslay context").ThrowAsJavaScriptException();
    return;
  }
  napi_value name = nullptr;
  if (napi_create_string_utf8(env, "wslay.WebSocketConnection", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, nullptr, name, &async_context_) != napi_ok) {
    async_context_ = nullptr;
    closed_ = true;
    if (!env.IsExceptionPending()) {
      Napi::Error::New(env, "cannot create the connection's async context").ThrowAsJavaScriptException();
    }
    return;
  }
  ObjectWrap::Ref();  // alive while open, even when the user keeps no reference
  self_ref_ = true;
}

Connection::~Connection() {
  data_->Unregister(id_);
  data_->pubsub.RemoveConnection(id_);
  if (!closed_) Abandon(false);
  if (async_context_ != nullptr) napi_async_destroy(Env(), async_context_);
}

bool Connection::CheckOpen(Napi::Env env) {
  if (closed_) {
    Napi::Error::New(env, "the WebSocket connection is closed").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

void Connection::Defer() {
  if (depth_ == 0) data_->Defer(this);  // inside Process() the end of the current step does the same
}

// ---------------------------------------------------------------------------------------------------------------
// JS methods

Napi::Value Connection::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (session_->attached()) {
    Napi::Error::New(env, "the connection already has a socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  bool duplicate = info[2].ToBoolean();
  std::string error;
  errno = 0;
  int fd = AdoptSocketFd(info[0].As<Napi::Number>().Int32Value(), duplicate, &error);
  if (fd < 0) {
    // With the errno (EMFILE…) that made it fail, for the onClose of a socket takeover.
    Napi::Error e = Napi::TypeError::New(env, error);
    if (errno != 0) e.Set("errno", Napi::Number::New(env, errno));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int r = poll_.Init([&](uv_poll_t* h) { return uv_poll_init_socket(data_->loop(), h, fd); });
  if (r != 0) {
    if (duplicate) ::close(fd);
    Napi::Error e = Napi::Error::New(env, std::string("cannot poll the socket: ") + uv_strerror(r));
    e.Set("errno", Napi::Number::New(env, -r));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  poll_.get()->data = this;
  if (!loop_ref_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  StartSession(std::unique_ptr<Transport>(new FdTransport(fd)), info[1]);
  return env.Undefined();
}

void Connection::StartSession(std::unique_ptr<Transport> transport, Napi::Value head_value) {
  const uint8_t* head = nullptr;
  size_t head_len = 0;
  if (head_value.IsTypedArray()) {
    Napi::TypedArray h = head_value.As<Napi::TypedArray>();
    head = static_cast<const uint8_t*>(h.ArrayBuffer().Data()) + h.ByteOffset();
    head_len = h.ByteLength();
  }
  session_->Attach(std::move(transport), head, head_len);
  attached_at_ = last_rx_at_ = uv_now(data_->loop());
  if (attached_at_ == 0) attached_at_ = 1;  // 0 means "not attached"
  // Bytes already read past the handshake, or messages queued before the socket arrived: start on a later turn.
  data_->Defer(this);
  UpdatePoll();
}

Napi::Value Connection::AttachStream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (session_->attached()) {
    Napi::Error::New(env, "the connection already has a socket").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!info[1].IsNumber() || !info[2].IsFunction() || !info[3].IsFunction() || !info[4].IsFunction()) {
    Napi::TypeError::New(env, "_attachStream(head, highWaterMark, write, flow, end)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  stream_write_ = Napi::Persistent(info[2].As<Napi::Function>());
  stream_flow_ = Napi::Persistent(info[3].As<Napi::Function>());
  stream_end_ = Napi::Persistent(info[4].As<Napi::Function>());
  if (stream_write_.IsEmpty() || stream_flow_.IsEmpty() || stream_end_.IsEmpty()) return env.Undefined();
  double high_water = info[1].As<Napi::Number>().DoubleValue();
  auto transport = std::unique_ptr<StreamTransport>(
      new StreamTransport(high_water >= 1 && high_water < 1e12 ? static_cast<size_t>(high_water) : 16384));
  stream_ = transport.get();
  StartSession(std::move(transport), info[0]);
  return env.Undefined();
}

Napi::Value Connection::Feed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ || stream_ == nullptr || !info[0].IsTypedArray()) return env.Undefined();
  Napi::TypedArray chunk = info[0].As<Napi::TypedArray>();
  stream_->Lend(static_cast<const uint8_t*>(chunk.ArrayBuffer().Data()) + chunk.ByteOffset(), chunk.ByteLength());
  if (in_process_) {  // fed from inside one of our callbacks: the current step is not re-entered
    stream_->Keep();
    data_->Defer(this);
    return env.Undefined();
  }
  Process(UV_READABLE);
  if (stream_ != nullptr) stream_->Keep();  // the chunk is ours only during this call: the rest is copied
  return env.Undefined();
}

Napi::Value Connection::FeedEnd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ || stream_ == nullptr) return env.Undefined();
  int error = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  // An error ends the connection at once, as a socket error does on the fd path; the end of the stream comes after
  // the data before it, read in order (EOF). A closed stream also takes no more writes.
  if (error > 0) session_->SetIoError(error);
  else stream_->SetEnded(0);
  if (info[1].ToBoolean()) stream_->SetWriteError(EPIPE);
  if (in_process_) data_->Defer(this);
  else Process(0);
  return env.Undefined();
}

Napi::Value Connection::Written(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ || stream_ == nullptr) return env.Undefined();
  bool unblocked = stream_->Written();
  // Written bytes may be what a waiter or onDrain waits for.
  bool waited_for = (!waiters_.empty() && stream_->Pending() == 0) ||
                    (above_drain_ && session_->BufferedAmount() <= drain_threshold_);
  if (unblocked || waited_for) {
    if (in_process_) data_->Defer(this);
    else Process(UV_WRITABLE);
  }
  return env.Undefined();
}

void Connection::FlushStream() {
  if (stream_ == nullptr || !stream_->HasOutput() || js_failed_) return;
  std::vector<uint8_t>& out = stream_->output();
  napi_env env = Env();
  napi_value buffer = MakeBuffer(env, out.data(), out.size());
  size_t len = out.size();
  out.clear();
  if (out.capacity() > ThreadBuffers::kGatherSize) std::vector<uint8_t>().swap(out);
  if (buffer == nullptr) {  // no memory for the Buffer: the bytes are lost, so is the connection
    stream_->SetWriteError(ENOMEM);
    session_->SetIoError(ENOMEM);
    return;
  }
  stream_->Sent(len);
  CallStream(stream_write_, {buffer});
}

void Connection::CallStream(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args) {
  if (in_process_) {  // inside Process(): its callback scope runs the stream's nextTicks when the step ends
    CallJs(fn, args, 0);
    return;
  }
  // Called from JS (a method of ours): no scope needed.
  if (fn.IsEmpty() || js_failed_) return;
  napi_value result = nullptr;
  if (napi_call_function(Env(), Value(), fn.Value(), args.size(), args.begin(), &result) != napi_ok) {
    ReportJsFailure();
  }
}

void Connection::EndStream() {
  if (stream_ == nullptr) return;
  stream_ = nullptr;
  Napi::FunctionReference end = std::move(stream_end_);
  stream_write_.Reset();
  stream_flow_.Reset();
  CallStream(end, {});
}

Napi::Value Connection::Abort(const Napi::CallbackInfo& info) {
  if (closed_) return info.Env().Undefined();
  StopBatch();
  if (info[0].ToBoolean()) {
    // The constructor failed: the object never became a connection, so release it without onClose.
    Abandon(false);
  } else {
    // The socket could not be taken over (it closed before its writes flushed, or no fd was left for our copy):
    // an abnormal closure, with the errno when there is one.
    if (info[1].IsNumber() && info[1].As<Napi::Number>().Int32Value() > 0) {
      session_->SetIoError(info[1].As<Napi::Number>().Int32Value());
    } else {
      session_->Abort();
    }
    data_->Defer(this);
  }
  return info.Env().Undefined();
}

void Connection::ThrowQueueError(Napi::Env env, QueueResult result) {
  switch (result) {
    case QueueResult::kClosing:
      Napi::Error::New(env, "the connection is closing (a close frame is queued): no more messages can be queued")
          .ThrowAsJavaScriptException();
      break;
    case QueueResult::kInvalidRsv:
      Napi::RangeError::New(env, "rsv has bits that were not negotiated (RSV1 belongs to permessage-deflate when it "
                                 "was negotiated; otherwise see the allowedRsv option)")
          .ThrowAsJavaScriptException();
      break;
    case QueueResult::kCompressFailed:
      Napi::Error::New(env, "compressing the message failed").ThrowAsJavaScriptException();
      break;
    default:
      Napi::Error::New(env, "out of memory queueing the message").ThrowAsJavaScriptException();
      break;
  }
}

Napi::Value Connection::Handle(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

namespace {

// The connection a handle names, or nullptr (a TypeError is then pending). `data` is the function's AddonData.
Connection* FindByHandle(napi_env env, napi_value handle, void* data) {
  uint32_t id = 0;
  Connection* connection = nullptr;
  if (napi_get_value_uint32(env, handle, &id) == napi_ok) connection = static_cast<AddonData*>(data)->Find(id);
  if (connection == nullptr) napi_throw_type_error(env, nullptr, "not a WebSocketConnection handle");
  return connection;
}

}  // namespace

napi_value Connection::QueueText(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {nullptr, nullptr, nullptr};
  void* data = nullptr;
  uint32_t flags = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok || argc < 3) return nullptr;
  Connection* connection = FindByHandle(env, argv[0], data);
  if (connection == nullptr || napi_get_value_uint32(env, argv[2], &flags) != napi_ok) return nullptr;
  // Encoded into a buffer the thread reuses (the session copies the bytes before returning).
  static thread_local std::string text;
  const uint8_t* bytes = nullptr;
  size_t len = 0;
  if (!GetString(env, argv[1], &text, &bytes, &len)) {  // JS passes a string
    napi_throw_type_error(env, nullptr, "message must be a string, Buffer, TypedArray, DataView or ArrayBuffer");
    return nullptr;
  }
  napi_value result = connection->Queue(env, flags, bytes, len);
  if (text.capacity() > ThreadBuffers::kGatherSize) std::string().swap(text);  // do not keep a huge one
  return result;
}

napi_value Connection::QueueBytes(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3] = {nullptr, nullptr, nullptr};
  void* data = nullptr;
  uint32_t flags = 0;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, &data) != napi_ok || argc < 3) return nullptr;
  Connection* connection = FindByHandle(env, argv[0], data);
  if (connection == nullptr || napi_get_value_uint32(env, argv[2], &flags) != napi_ok) return nullptr;
  void* bytes = nullptr;
  size_t len = 0;
  if (napi_get_buffer_info(env, argv[1], &bytes, &len) != napi_ok) {  // any ArrayBufferView; JS passes a Uint8Array
    napi_throw_type_error(env, nullptr, "message must be a string, Buffer, TypedArray, DataView or ArrayBuffer");
    return nullptr;
  }
  static const uint8_t kNothing = 0;
  return connection->Queue(env, flags, len ? static_cast<const uint8_t*>(bytes) : &kNothing, len);
}

napi_value Connection::Queue(napi_env env, uint32_t flags, const uint8_t* data, size_t len) {
  // Ended with onClose still to come (held messages, terminate()): refused like a closing one. After onClose: throws.
  if (closed_ && !close_report_ && !CheckOpen(env)) return nullptr;
  uint8_t opcode = static_cast<uint8_t>(flags & 15), rsv = static_cast<uint8_t>(flags >> 4 & 7);
  napi_value result = nullptr;
  if (wslay_is_ctrl_frame(opcode) && (len > 125 || rsv != 0)) {
    napi_throw_range_error(env, nullptr, "a control frame carries at most 125 bytes and no RSV bits");
    return nullptr;
  }
  if (closed_) {
    ++close_report_->unsent_messages;
    close_report_->unsent_bytes += len;
    napi_get_boolean(env, false, &result);
    return result;
  }
  QueueResult r = session_->Queue(opcode, data, len, rsv);
  bool queued = r == QueueResult::kOk;
  if (r == QueueResult::kClosing && session_->IsClosing()) {
    // A broadcast loop must not throw halfway because one client is closing: the message counts as unsent.
    session_->CountRefused(len);
  } else if (!queued && r != QueueResult::kBackpressure) {
    ThrowQueueError(Napi::Env(env), r);
    return nullptr;
  }
  if (queued) {
    if (!above_drain_ && session_->BufferedAmount() > drain_threshold_) above_drain_ = true;
    // Outside our own event: written once per loop iteration with everything else queued meanwhile (no poll armed
    // for it). Inside, the end of the step writes it.
    if (depth_ == 0) {
      if (session_->attached()) data_->MarkDirty(this);
      else UpdatePoll();
    }
  }
  napi_get_boolean(env, queued, &result);
  return result;
}

Napi::Value Connection::QueueFragmented(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "source must be a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t opcode = 0, rsv = 0;
  if (!GetSmallInt(env, info[1], 15, "opcode", &opcode) || !GetSmallInt(env, info[2], 7, "rsv", &rsv)) {
    return env.Undefined();
  }
  if (!CheckRsvSupported(env, rsv)) return env.Undefined();
  if (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME) {
    Napi::RangeError::New(env, "a fragmented message must be TEXT (1) or BINARY (2)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* fn = new Napi::FunctionReference(Napi::Persistent(info[0].As<Napi::Function>()));
  if (fn->IsEmpty()) {  // no reference could be made: the error is pending, thrown from here
    delete fn;
    return env.Undefined();
  }
  QueueResult r = session_->QueueFragmented(fn, static_cast<uint8_t>(opcode), static_cast<uint8_t>(rsv));
  if (r != QueueResult::kOk) {
    delete fn;
    ThrowQueueError(env, r);
    return env.Undefined();
  }
  if (depth_ == 0) UpdatePoll();
  return env.Undefined();
}

Napi::Value Connection::Wait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "wait() takes a callback function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  waiters_.push_back(Napi::Persistent(info[0].As<Napi::Function>()));
  Defer();  // never called from here: Process() fires it once the queue is empty, at the latest on the next turn
  return env.Undefined();
}

Napi::Value Connection::Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) return env.Undefined();  // closing a closed connection does nothing, like a second close()
  uint16_t code = info[0].IsNumber() ? static_cast<uint16_t>(info[0].As<Napi::Number>().Uint32Value()) : 0;
  std::string reason;
  if (info[1].IsTypedArray()) {
    Napi::TypedArray r = info[1].As<Napi::TypedArray>();
    reason.assign(static_cast<const char*>(r.ArrayBuffer().Data()) + r.ByteOffset(), r.ByteLength());
  }
  // The close frame is queued once everything queued before it is out; wslay alone would send it first.
  StopBatch();
  if (session_->RequestClose(code, reason)) Defer();
  return env.Undefined();
}

Napi::Value Connection::Terminate(const Napi::CallbackInfo& info) {
  if (closed_) return info.Env().Undefined();  // already ended: nothing to do
  StopBatch();
  session_->Terminate();
  if (depth_ > 0) return info.Env().Undefined();  // inside Process(): its end closes everything, then onClose
  // Now: the fd is closed before this returns; onClose (1006) follows on a later turn, as after any other end.
  EndNow();
  data_->Defer(this);
  return info.Env().Undefined();
}

Napi::Value Connection::SetReader(const Napi::CallbackInfo& info) {
  if (closed_) return info.Env().Undefined();
  if (!info[0].ToBoolean()) StopBatch();
  session_->SetNoReader(!info[0].ToBoolean());
  if (session_->HasPendingInput()) Defer();
  if (depth_ == 0) UpdatePoll();
  return info.Env().Undefined();
}

Napi::Value Connection::QueuedCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), closed_ ? 0 : static_cast<double>(session_->QueuedCount()));
}

Napi::Value Connection::BufferedAmount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), closed_ ? 0 : static_cast<double>(session_->BufferedAmount()));
}

Napi::Value Connection::ReadyState(const Napi::CallbackInfo& info) {
  const char* s = "open";
  if (closed_) s = close_report_ ? "closing" : "closed";  // 'closed' once onClose has fired
  else if (!session_->attached()) s = "connecting";
  else if (session_->IsClosing()) s = "closing";
  return Napi::String::New(info.Env(), s);
}

Napi::Value Connection::SetFlow(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_ && close_report_) {  // ended with messages held: startRead() delivers them, then onClose
    if (info[0].IsBoolean()) {
      bool resume = info[0].As<Napi::Boolean>().Value();
      session_->SetReadPaused(!resume);
      if (resume && depth_ == 0) data_->Defer(this);
    }
    return env.Undefined();
  }
  if (!CheckOpen(env)) return env.Undefined();
  if (info[0].IsBoolean()) {
    if (!info[0].As<Napi::Boolean>().Value()) StopBatch();
    session_->SetReadPaused(!info[0].As<Napi::Boolean>().Value());
    // Held events and kept input need no readiness from the fd: deliver them on a later turn.
    if (session_->HasPendingInput()) Defer();
  }
  if (info[1].IsBoolean()) session_->SetWritePaused(!info[1].As<Napi::Boolean>().Value());
  if (depth_ == 0) UpdatePoll();
  return env.Undefined();
}

Napi::Value Connection::Shutdown(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!CheckOpen(env)) return env.Undefined();
  StopBatch();
  if (info[0].ToBoolean()) session_->ShutdownRead();
  if (info[1].ToBoolean()) session_->ShutdownWrite();
  Defer();  // with neither direction left the connection is over; Process() decides that
  return env.Undefined();
}

Napi::Value Connection::SetCallback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) return env.Undefined();
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  if (slot >= kSlotCount || closed_) return env.Undefined();
  uint8_t bit = static_cast<uint8_t>(1u << slot);
  shared_slots_ &= static_cast<uint8_t>(~bit);
  if (info[1].IsFunction()) {
    callbacks_[slot] = Napi::Persistent(info[1].As<Napi::Function>());
  } else {
    callbacks_[slot].Reset();
    // true: the thread's shared function for this slot, when there is one
    if (info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value() && slot < AddonData::kSharedSlots &&
        !data_->shared_callbacks[slot].IsEmpty()) {
      shared_slots_ |= bit;
    }
  }
  if (slot == kOnMsgRecv) event_deliver_ = nullptr;
  return env.Undefined();
}

const Napi::FunctionReference& Connection::Callback(Slot slot) const {
  return (shared_slots_ >> slot) & 1 ? data_->shared_callbacks[slot] : callbacks_[slot];
}

Napi::Value Connection::Ref(const Napi::CallbackInfo& info) {
  loop_ref_ = true;
  if (poll_) uv_ref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  if (close_timer_) uv_ref(reinterpret_cast<uv_handle_t*>(close_timer_.get()));
  if (message_timer_) uv_ref(reinterpret_cast<uv_handle_t*>(message_timer_.get()));
  return info.This();
}

Napi::Value Connection::Unref(const Napi::CallbackInfo& info) {
  loop_ref_ = false;
  if (poll_) uv_unref(reinterpret_cast<uv_handle_t*>(poll_.get()));
  if (close_timer_) uv_unref(reinterpret_cast<uv_handle_t*>(close_timer_.get()));
  if (message_timer_) uv_unref(reinterpret_cast<uv_handle_t*>(message_timer_.get()));
  return info.This();
}

// ---------------------------------------------------------------------------------------------------------------
// The event cycle

void Connection::Process(int events) {
  if (closed_ && !close_report_) return;
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  in_event_scope_ = true;
  if (closed_) {
    DeliverHeldThenClose();  // startRead() after the end: the held messages, then onClose
  } else {
    in_process_ = true;
    ++depth_;
    bool writable = stream_ == nullptr || (events & UV_WRITABLE) != 0 || !stream_->Blocked();
    session_->Step((events & UV_READABLE) != 0 || (stream_ != nullptr && stream_->HasData()), writable);
    // The stream's end is read after what this step sent (a close() just asked for goes out first), as a socket's
    // EOF is seen on its next readiness.
    if (stream_ != nullptr && stream_->AtEnd() && !session_->IsOver() &&
        (session_->WantedEvents() & Session::kReadable)) {
      session_->Step(true, writable);
    }
    if (batch_count_ != 0) {  // the session flushes every batch in its read: never left over, but never kept either
      try {
        FlushMessages();
      } catch (const std::bad_alloc&) {
        session_->FailByHost(1011);
      }
    }
    --depth_;
    FlushStream();
    if (session_->IsOver()) {
      Finish();
    } else {
      // Input kept in memory (reading paused for pong backpressure, then resumed by the write side in the same
      // step) gets no readiness from the fd: run it on the next turn.
      if (session_->HasPendingInput()) data_->Defer(this);
      UpdatePoll();
      // Input a stream transport kept (fed while reading was paused) also needs no readiness from the stream.
      if (stream_ != nullptr && stream_->HasInput() && (session_->WantedEvents() & Session::kReadable)) {
        data_->Defer(this);
      }
      if (session_->IsClosing() && !close_timer_) StartCloseTimer();  // a peer that never answers or never reads
      if (message_timeout_ms_ != 0) WatchMessageTime();
      MaybeFireWaiter();
      if (!closed_) MaybeFireDrain();  // a waiter may have ended it (terminate())
      if (!closed_ && (idle_ms_ != 0 || lifetime_ms_ != 0) && attached_at_ != 0) ScheduleTimers();
    }
  }
  in_process_ = false;
  in_event_scope_ = false;  // the values cached for this event go with its handle scope
  event_self_ = event_deliver_ = nullptr;
  event_slab_ = {};
  // No member access once the self-reference is dropped: the object may be collected from there on.
  napi_callback_scope callback_scope = callback_scope_;
  callback_scope_ = nullptr;
  if (closed_ && !close_report_ && self_ref_) {
    self_ref_ = false;
    ObjectWrap::Unref();
  }
  if (callback_scope != nullptr) napi_close_callback_scope(env, callback_scope);  // runs nextTicks and microtasks
}

void Connection::FlushQueued() {
  if (closed_ || depth_ > 0 || !session_->attached()) return;
  if (stream_ == nullptr && session_->WriteBlocked()) {
    UpdatePoll();  // the socket is full: its writable poll (armed already) runs the next Process()
    return;
  }
  // What only a whole event does: wslay's queue (control frames, messages queued behind it), a stream transport's
  // one Buffer per event, a waiter or onDrain that the write may satisfy.
  if (stream_ != nullptr || session_->WslayWantsWrite() || above_drain_ || !waiters_.empty()) {
    Process(0);
    return;
  }
  if (!session_->OutputWaiting()) return;  // an event since has written it
  session_->FlushOutput();
  if (session_->IsOver()) {
    Process(0);  // the write failed: the end is reported from there
    return;
  }
  UpdatePoll();  // writable only if the socket did not take everything
}

void Connection::UpdatePoll() {
  if (closed_) return;
  if (stream_ != nullptr) {
    // The stream is writable unless its buffer is full (then Written() says when it is not); reading is the
    // Duplex flowing or paused.
    int events = session_->WantedEvents();
    if ((events & Session::kWritable) && !stream_->Blocked() && !in_process_) data_->Defer(this);
    bool reading = (events & Session::kReadable) != 0;
    if (reading == stream_reading_) return;
    stream_reading_ = reading;
    napi_value flag = MakeBool(Env(), reading);
    if (flag != nullptr) CallStream(stream_flow_, {flag});
    return;
  }
  if (!poll_) return;
  int events = session_->WantedEvents();
  if (events == poll_events_) return;
  poll_events_ = events;
  if (events == 0) {
    uv_poll_stop(poll_.get());
    return;
  }
  uv_poll_start(poll_.get(), events, [](uv_poll_t* handle, int status, int ready) {
    Connection* self = static_cast<Connection*>(handle->data);
    if (status < 0) self->session_->SetIoError(-status);
    self->Process(status < 0 ? 0 : ready);
  });
}

void Connection::StartCloseTimer() {
  if (close_timeout_ms_ == 0) return;
  if (close_timer_.Init([&](uv_timer_t* t) { return uv_timer_init(data_->loop(), t); }) != 0) return;
  close_timer_.get()->data = this;
  if (!loop_ref_) uv_unref(reinterpret_cast<uv_handle_t*>(close_timer_.get()));
  uv_timer_start(close_timer_.get(), [](uv_timer_t* timer) {
    Connection* self = static_cast<Connection*>(timer->data);
    self->session_->SetTimedOut();
    self->Process(0);
  }, close_timeout_ms_, 0);
}

void Connection::WatchMessageTime() {
  if (!session_->ReceivingMessage()) {  // a timer still armed finds nothing and stops
    timed_since_ = 0;  // after a pause (stopRead), the message's time starts again
    return;
  }
  uint64_t now = uv_now(data_->loop());
  if (session_->message_seq() != timed_message_ || timed_since_ == 0) {
    timed_message_ = session_->message_seq();
    timed_since_ = now;
  }
  if (!message_timer_) {
    if (message_timer_.Init([&](uv_timer_t* t) { return uv_timer_init(data_->loop(), t); }) != 0) return;
    message_timer_.get()->data = this;
    if (!loop_ref_) uv_unref(reinterpret_cast<uv_handle_t*>(message_timer_.get()));
  }
  uv_timer_t* timer = message_timer_.get();
  if (uv_is_active(reinterpret_cast<uv_handle_t*>(timer))) return;
  uint64_t due = timed_since_ + message_timeout_ms_;
  uv_timer_start(timer, [](uv_timer_t* t) {
    Connection* self = static_cast<Connection*>(t->data);
    Session& session = *self->session_;
    if (session.ReceivingMessage() && session.message_seq() == self->timed_message_ &&
        uv_now(self->data_->loop()) >= self->timed_since_ + self->message_timeout_ms_) {
      session.FailIncompleteMessage();
    }
    self->Process(0);  // sends the close frame, or re-arms for a message that began later
  }, due > now ? due - now : 0, 0);
}

void Connection::Wake() { data_->Defer(this); }

void Connection::MaybeFireWaiter() {
  if (waiters_.empty() || closed_ || !session_->SendQueueEmpty()) return;
  // Every waiter of an empty queue, in order; one that ends the connection drops the rest (onClose follows).
  std::vector<Napi::FunctionReference> batch;
  batch.swap(waiters_);
  for (Napi::FunctionReference& cb : batch) {
    if (closed_) break;
    CallJs(cb, {});
  }
}

void Connection::MaybeFireDrain() {
  if (!above_drain_ || session_->BufferedAmount() > drain_threshold_) return;
  above_drain_ = false;
  CallJs(callbacks_[kOnDrain], {});
}

uint64_t Connection::NextDeadline() const {
  uint64_t due = UINT64_MAX;
  if (lifetime_ms_ != 0 && !lifetime_over_) due = attached_at_ + lifetime_ms_;
  if (idle_ms_ != 0) {
    due = std::min(due, last_rx_at_ + idle_ms_);
    if (auto_ping_ && !ping_outstanding_) due = std::min(due, last_rx_at_ + idle_ms_ / 2);
  }
  return due;
}

void Connection::ScheduleTimers() {
  uint64_t now = uv_now(data_->loop());
  uint64_t rx = session_->bytes_received();
  if (rx != seen_rx_bytes_) {  // traffic: the idle time starts again, and a ping may go out again
    seen_rx_bytes_ = rx;
    last_rx_at_ = now;
    ping_outstanding_ = false;
  }
  uint64_t due = NextDeadline();
  if (due == UINT64_MAX) return;
  if (timer_due_ != 0 && timer_due_ <= due) return;  // the entry already listed comes first and schedules the next
  timer_due_ = due;
  timer_seq_ = data_->ScheduleTimer(id_, due);
}

void Connection::OnTimer(uint64_t seq, uint64_t now) {
  if (seq != timer_seq_ || closed_) return;  // an entry this connection has replaced by an earlier one
  timer_due_ = 0;
  uint64_t rx = session_->bytes_received();
  if (rx != seen_rx_bytes_) {
    seen_rx_bytes_ = rx;
    last_rx_at_ = now;
    ping_outstanding_ = false;
  }
  if (lifetime_ms_ != 0 && !lifetime_over_ && now >= attached_at_ + lifetime_ms_) {
    lifetime_over_ = true;
    session_->RequestClose(1001, std::string());  // the closing handshake, under closeTimeout
  }
  if (idle_ms_ != 0) {
    uint64_t silent = now - last_rx_at_;
    if (silent >= idle_ms_) {
      // Silent for idleTimeout (after our ping, with automatic pings): the peer is gone or stuck, so no closing
      // handshake that could wait closeTimeout more; ended like terminate().
      session_->SetTimedOut();
      session_->Terminate();
    } else if (auto_ping_ && !ping_outstanding_ && silent >= idle_ms_ / 2) {
      ping_outstanding_ = true;
      static const uint8_t kEmpty = 0;
      session_->Queue(WSLAY_PING, &kEmpty, 0, 0);  // refused once closing: the idle deadline still holds
    }
  }
  Process(0);  // sends the ping or the close, or ends the connection; then schedules the next deadline
}

void Connection::Release() {
  closed_ = true;
  data_->pubsub.RemoveConnection(id_);  // subscriptions end with the connection
  data_->CancelDeferred(this);
  close_timer_.Reset();
  message_timer_.Reset();
  poll_.Reset();  // uv_close takes the fd out of epoll now, while the fd number is still ours
}

void Connection::Finish() {
  EndNow();
  DeliverHeldThenClose();
}

void Connection::EndNow() {
  close_report_.reset(new CloseReport(session_->Report()));
  Release();
  EndStream();
  session_->Close();
  waiters_.clear();
}

void Connection::DeliverHeldThenClose() {
  // Messages held by stopRead() came before whatever ended the connection: they go first, when reading resumes,
  // and onClose after them. Until then the socket is closed, readyState is 'closing' and startRead() still works.
  ++depth_;  // a startRead() in a held message's callback needs no deferred turn: DeliverHeld goes on
  session_->DeliverHeld();
  --depth_;
  if (session_->HasHeldEvents() && !js_failed_) return;
  std::unique_ptr<CloseReport> report = std::move(close_report_);
  const CloseReport& r = *report;
  napi_env env = Env();
  bool shared_close = (shared_slots_ >> kOnClose) & 1;
  Napi::FunctionReference own_close = std::move(callbacks_[kOnClose]);
  for (auto& cb : callbacks_) cb.Reset();
  shared_slots_ = 0;
  const Napi::FunctionReference& on_close = shared_close ? data_->shared_callbacks[kOnClose] : own_close;
  if (on_close.IsEmpty() || js_failed_) return;
  // Plain N-API with checked results: this also runs while a worker is being terminated.
  napi_value info = nullptr, reason = nullptr;
  bool ok = napi_create_object(env, &info) == napi_ok &&
            napi_create_string_utf8(env, r.reason.data(), r.reason.size(), &reason) == napi_ok;
  auto set = [&](const char* name, napi_value v) {
    ok = ok && v != nullptr && napi_set_named_property(env, info, name, v) == napi_ok;
  };
  set("code", MakeNumber(env, r.code));
  set("reason", reason);
  set("wasClean", MakeBool(env, r.was_clean));
  if (r.sent_code != 0) set("sentCode", MakeNumber(env, r.sent_code));
  set("unsentMessages", MakeNumber(env, static_cast<double>(r.unsent_messages)));
  set("unsentBytes", MakeNumber(env, static_cast<double>(r.unsent_bytes)));
  set("droppedMessages", MakeNumber(env, static_cast<double>(dropped_messages_)));
  if (r.error != 0) set("errno", MakeNumber(env, r.error));
  if (r.timed_out) set("timedOut", MakeBool(env, true));
  if (!ok) {
    ReportJsFailure();  // no memory, or the environment is going away; nothing left pending either way
    return;
  }
  CallJs(on_close, {MakeNumber(env, r.code), info}, 0);
}

void Connection::Abandon(bool say_going_away) {
  if (closed_ && close_report_) {  // ended, onClose waiting for held messages: no more JS at teardown
    close_report_.reset();
    for (auto& cb : callbacks_) cb.Reset();
    shared_slots_ = 0;
    if (self_ref_) {
      self_ref_ = false;
      ObjectWrap::Unref();
    }
  }
  if (closed_) return;
  Release();
  stream_ = nullptr;  // no JS at teardown: the Duplex goes with its environment
  stream_write_.Reset();
  stream_flow_.Reset();
  stream_end_.Reset();
  if (say_going_away) session_->SayGoingAway(1011);
  else session_->Close();
  waiters_.clear();
  for (auto& cb : callbacks_) cb.Reset();
  shared_slots_ = 0;
  if (self_ref_) {
    self_ref_ = false;
    ObjectWrap::Unref();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// SessionHost: the session's events, into JS

bool Connection::Wants(Event event) {
  switch (event) {
    case kMessage: return !Callback(kOnMsgRecv).IsEmpty();
    case kFrameStart: return !callbacks_[kOnFrameRecvStart].IsEmpty();
    case kFrameChunk: return !callbacks_[kOnFrameRecvChunk].IsEmpty();
    case kFrameEnd: return !callbacks_[kOnFrameRecvEnd].IsEmpty();
  }
  return false;
}

// The receive callbacks make no handle scope of their own: their values stay in Process()'s, one scope per event
// instead of one per message (a malloc and a free each). An event delivers at most what its reads held
// (kMaxReadsPerStep reads in session.cc), and a message adds one or two handles, so the scope stays small.
void Connection::OnMessage(uint8_t rsv, uint8_t opcode, const uint8_t* data, size_t len, uint16_t status) {
  const Napi::FunctionReference& deliver = Callback(kOnMsgRecv);
  if (deliver.IsEmpty() || js_failed_) return;
  if (session_->MayBatch() && BatchMessage(rsv, opcode, data, len, status)) return;
  if (batch_count_ != 0) {  // in order: the batch first, then this one as arriving after its callbacks
    FlushMessages();
    session_->Redeliver(rsv, opcode, status, data, len);
    return;
  }
  napi_env env = Env();
  AddonData::SlabCache no_cache;
  napi_value bytes = nullptr;
  int32_t offset = 0;
  if (!data_->CopyToJs(env, data, len, &bytes, &offset, in_event_scope_ ? &event_slab_ : &no_cache)) bytes = nullptr;
  // The slot holds WebSocketConnection's deliverMessage, which reads offset, length and meta from deliveryInfo
  // (rsv: 3 bits, opcode: 4 bits, close status: 16 bits), wraps the slab in a Buffer view (or takes the message's
  // own Buffer) and calls the user's onMsgRecv.
  int32_t* info = data_->delivery_info;
  info[0] = offset;
  info[1] = offset == AddonData::kOwnBuffer ? 0 : static_cast<int32_t>(len);  // a slab view is at most kPooledMax
  info[2] = static_cast<int32_t>(static_cast<uint32_t>(rsv) | static_cast<uint32_t>(opcode) << 3 |
                                 static_cast<uint32_t>(status) << 7);
  if (in_event_scope_ && event_deliver_ == nullptr) event_deliver_ = deliver.Value();
  // No buffer for the message (no memory): fail with 1009, as for a message too big to hold.
  CallJs(event_deliver_ != nullptr ? event_deliver_ : deliver.Value(), {bytes}, 1009);
}

void Connection::OnFrameStart(bool fin, uint8_t rsv, uint8_t opcode, uint64_t length) {
  napi_env env = Env();
  CallJs(callbacks_[kOnFrameRecvStart], {MakeBool(env, fin), MakeNumber(env, rsv), MakeNumber(env, opcode),
                                         MakeNumber(env, static_cast<double>(length))});
}

void Connection::OnFrameChunk(const uint8_t* data, size_t len) {
  CallJs(callbacks_[kOnFrameRecvChunk], {MakeBuffer(Env(), data, len)});
}

void Connection::OnFrameEnd() { CallJs(callbacks_[kOnFrameRecvEnd], {}); }

int Connection::CustomMask(uint8_t* buf, size_t len) {
  if (callbacks_[kGenmask].IsEmpty()) return 0;
  Napi::Env env = Env();
  InnerScope scope(env, &in_event_scope_);
  Napi::Value result = CallJs(callbacks_[kGenmask], {MakeNumber(env, static_cast<double>(len))}, 0);
  if (result.IsEmpty()) return -1;  // it threw (the error went to 'uncaughtException') or could not run
  if (!result.IsTypedArray() || result.As<Napi::TypedArray>().ByteLength() != len) {
    ReportError(Napi::RangeError::New(env, "genmask(len) must return a Buffer of exactly len bytes"));
    return -1;
  }
  Napi::TypedArray key = result.As<Napi::TypedArray>();
  std::memcpy(buf, static_cast<const uint8_t*>(key.ArrayBuffer().Data()) + key.ByteOffset(), len);
  return 1;
}

FragmentChunk Connection::ReadFragment(void* token, size_t len) {
  const FragmentChunk error = {FragmentChunk::kError, nullptr, 0};
  napi_env env = Env();
  InnerScope scope(env, &in_event_scope_);
  // An error here fails the connection (1011) once wslay returns; a JS exception also reaches 'uncaughtException'.
  Napi::Value result = CallJs(*static_cast<Napi::FunctionReference*>(token),
                              {MakeNumber(env, static_cast<double>(len))}, 0);
  if (result.IsEmpty()) return error;  // it threw, or could not run
  int status = FragmentChunk::kData;
  napi_value chunk = result;
  bool is_array = false;
  if (napi_is_array(env, result, &is_array) != napi_ok) return error;
  if (is_array) {
    // Reading the elements runs JS (a getter, a Proxy): checked, so no exception is left pending.
    napi_value s = nullptr;
    napi_valuetype s_type = napi_undefined;
    if (napi_get_element(env, result, 0, &chunk) != napi_ok || napi_get_element(env, result, 1, &s) != napi_ok ||
        napi_typeof(env, s, &s_type) != napi_ok) {
      ReportJsFailure();
      return error;
    }
    if (s_type == napi_number) {
      if (napi_get_value_int32(env, s, &status) != napi_ok) return error;
    } else if (s_type != napi_undefined) {
      status = -2;
    }
  }
  if (status == FragmentChunk::kError) return error;
  if (status != FragmentChunk::kData && status != FragmentChunk::kEof) {
    ReportError(Napi::RangeError::New(Env(), "fragmented source status must be FragmentedStatus.DATA, EOF or ERROR"));
    return error;
  }
  napi_valuetype chunk_type = napi_undefined;
  if (napi_typeof(env, chunk, &chunk_type) != napi_ok) return error;
  const uint8_t* data = nullptr;
  size_t n = 0;
  std::string storage;
  if (chunk_type != napi_undefined && chunk_type != napi_null &&
      !GetBytes(Env(), Napi::Value(env, chunk), &storage, &data, &n)) {
    ReportError(Napi::TypeError::New(Env(), "a fragmented source must return data (string or Buffer) or [data, status]"));
    return error;
  }
  // Copied, so the bytes outlive this handle scope until the session has taken them.
  if (n) fragment_bytes_.assign(reinterpret_cast<const char*>(data), n);
  else fragment_bytes_.clear();
  return {static_cast<FragmentChunk::Status>(status), reinterpret_cast<const uint8_t*>(fragment_bytes_.data()), n};
}

void Connection::ReleaseFragment(void* token) { delete static_cast<Napi::FunctionReference*>(token); }

Napi::Value Connection::CallJs(const Napi::FunctionReference& fn, std::initializer_list<napi_value> args,
                               uint16_t fail_code) {
  if (fn.IsEmpty() || js_failed_) return Napi::Value();
  return CallJs(fn.Value(), args, fail_code);
}

Napi::Value Connection::CallJs(napi_value fn, std::initializer_list<napi_value> args, uint16_t fail_code) {
  if (fn == nullptr || js_failed_) return Napi::Value();
  bool args_ok = true;
  if (data_->injected_argument_failures != 0) {  // tests only
    --data_->injected_argument_failures;
    args_ok = false;
  }
  for (napi_value arg : args) args_ok = args_ok && arg != nullptr;
  Napi::Env env = Env();
  if (!args_ok) {
    napi_value ignored;
    napi_get_and_clear_last_exception(env, &ignored);  // what the failed allocation threw, if anything
    if (!CanRunJs(env)) js_failed_ = true;  // the environment is terminating
    else if (fail_code != 0 && !closed_) session_->FailByHost(fail_code);  // no memory: this connection fails
    return Napi::Value();
  }
  napi_value self = event_self_;
  if (self == nullptr) {
    self = Value();
    if (in_event_scope_) event_self_ = self;
  }
  if (callback_scope_ == nullptr) {
    // One scope per Process(): nextTicks and microtasks run once, after every message of this event.
    if (napi_open_callback_scope(env, self, async_context_, &callback_scope_) != napi_ok) {
      callback_scope_ = nullptr;
      ReportJsFailure();
      return Napi::Value();
    }
  }
  napi_value result = nullptr;
  bool caching = in_event_scope_;
  in_event_scope_ = false;  // a method of ours called from this JS makes its values in the scope of that call
  napi_status status = napi_call_function(env, self, fn, args.size(), args.begin(), &result);
  in_event_scope_ = caching;
  if (status == napi_ok) return Napi::Value(env, result);
  // Like a throwing EventEmitter listener: the error reaches process 'uncaughtException', the connection stays
  // consistent and goes on.
  ReportJsFailure();
  return Napi::Value();
}

bool Connection::ReportJsFailure() {
  napi_env env = Env();
  bool pending = false;
  napi_value error = nullptr;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr) {
    napi_valuetype type = napi_undefined;
    if (napi_typeof(env, error, &type) == napi_ok && type != napi_undefined) {
      napi_fatal_exception(env, error);
      return true;
    }
  }
  // No exception, or `undefined`: what a terminating environment leaves, unless JS can still run (throw undefined).
  if (!CanRunJs(env)) {
    js_failed_ = true;
    return false;
  }
  if (error != nullptr) napi_fatal_exception(env, error);
  return true;
}

void Connection::ReportError(const Napi::Error& error) { napi_fatal_exception(Env(), error.Value()); }

}  // namespace wslay_node
