// Module entry: one AddonData per environment (main thread or worker), and the NativeConnection class.
#include <napi.h>

#include "addon_data.h"
#include "connection.h"
#include "socket_io.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace {

// dupSocketFd(fd) → a close-on-exec duplicate of a stream socket fd, owned by the caller (for handing a socket to
// another thread: fd numbers are process-wide).
Napi::Value DupSocketFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string error;
  int fd = wslay_node::AdoptSocketFd(info[0].As<Napi::Number>().Int32Value(), true, &error);
  if (fd < 0) {
    Napi::TypeError::New(env, error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, fd);
}

// socketAddresses(fd) → [remoteAddress, remotePort, family, localAddress, localPort] of a TCP socket, read with
// getpeername/getsockname; undefined for another kind of socket (Unix) or when they cannot be read.
Napi::Value SocketAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  sockaddr_storage peer{}, local{};
  socklen_t peer_len = sizeof peer, local_len = sizeof local;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0 ||
      (peer.ss_family != AF_INET && peer.ss_family != AF_INET6)) {
    return env.Undefined();
  }
  auto text = [](const sockaddr_storage& a, std::string* address, int* port) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (a.ss_family == AF_INET) {
      const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(&a);
      inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
      *port = ntohs(in->sin_port);
    } else {
      const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(&a);
      inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
      *port = ntohs(in6->sin6_port);
    }
    *address = buf;
  };
  std::string remote, local_address;
  int remote_port = 0, local_port = 0;
  text(peer, &remote, &remote_port);
  text(local, &local_address, &local_port);
  Napi::Array result = Napi::Array::New(env, 5);
  result.Set(uint32_t{0}, Napi::String::New(env, remote));
  result.Set(uint32_t{1}, Napi::Number::New(env, remote_port));
  result.Set(uint32_t{2}, Napi::String::New(env, peer.ss_family == AF_INET ? "IPv4" : "IPv6"));
  result.Set(uint32_t{3}, Napi::String::New(env, local_address));
  result.Set(uint32_t{4}, Napi::Number::New(env, local_port));
  return result;
}

// closeFd(fd): for an fd that was handed over but never became a connection.
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) {
    Napi::TypeError::New(env, "fd must be a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Boolean::New(env, ::close(info[0].As<Napi::Number>().Int32Value()) == 0);
}

// setSlabGuard(markAsUntransferable): see AddonData::mark_untransferable.
Napi::Value SetSlabGuard(const Napi::CallbackInfo& info) {
  if (info[0].IsFunction()) {
    info.Env().GetInstanceData<wslay_node::AddonData>()->mark_untransferable =
        Napi::Persistent(info[0].As<Napi::Function>());
  }
  return info.Env().Undefined();
}

// setSharedCallback(slot, fn): see AddonData::shared_callbacks.
Napi::Value SetSharedCallback(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsFunction()) {
    Napi::TypeError::New(env, "setSharedCallback(slot, fn)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t slot = info[0].As<Napi::Number>().Uint32Value();
  wslay_node::AddonData* data = env.GetInstanceData<wslay_node::AddonData>();
  if (slot < wslay_node::AddonData::kSharedSlots) {
    data->shared_callbacks[slot] = Napi::Persistent(info[1].As<Napi::Function>());
  }
  return env.Undefined();
}

// _injectArgumentFailures(count): tests only, see AddonData::injected_argument_failures.
Napi::Value InjectArgumentFailures(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) {
    info.Env().GetInstanceData<wslay_node::AddonData>()->injected_argument_failures =
        info[0].As<Napi::Number>().Uint32Value();
  }
  return info.Env().Undefined();
}

// setReceiveBudget(bytes): the calling thread's budget for bytes held in incomplete received messages (validated in
// src/receive-budget.ts).
Napi::Value SetReceiveBudget(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) {
    info.Env().GetInstanceData<wslay_node::AddonData>()->buffers.receive_budget.set_limit(
        static_cast<uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
  }
  return info.Env().Undefined();
}

// getReceiveBudget() → [limit, used] for the calling thread.
Napi::Value GetReceiveBudget(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const wslay_node::ReceiveBudget& budget = env.GetInstanceData<wslay_node::AddonData>()->buffers.receive_budget;
  Napi::Array result = Napi::Array::New(env, 2);
  result.Set(uint32_t{0}, Napi::Number::New(env, static_cast<double>(budget.limit())));
  result.Set(uint32_t{1}, Napi::Number::New(env, static_cast<double>(budget.used())));
  return result;
}

// Test only: _testFailGrowth(kind, n) makes this thread's n-th buffer growth of `kind` from now fail as if memory
// ran out ('message': a message being assembled or inflated; 'other': any other receive-side buffer).
Napi::Value TestFailGrowth(const Napi::CallbackInfo& info) {
  using wslay_node::ThreadBuffers;
  ThreadBuffers& buffers = info.Env().GetInstanceData<wslay_node::AddonData>()->buffers;
  bool message = info[0].IsString() && info[0].As<Napi::String>().Utf8Value() == "message";
  uint32_t n = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
  buffers.FailGrowthAfter(message ? ThreadBuffers::Growth::kMessage : ThreadBuffers::Growth::kOther, n);
  return info.Env().Undefined();
}

// The hot path's functions in plain N-API, with the AddonData as their data (no napi_get_instance_data per call).
bool SetRawFunction(napi_env env, napi_value exports, const char* name, napi_callback cb, void* data) {
  napi_value fn = nullptr;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, data, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

// deliveryInfo: an Int32Array over AddonData::delivery_info, external memory, so a write from C++ always lands in
// our own memory whatever happens to the array (src/native.ts keeps it private). Node's V8 has no sandbox that
// would refuse external buffers.
bool SetDeliveryInfo(napi_env env, napi_value exports, wslay_node::AddonData* data) {
  napi_value buffer = nullptr, array = nullptr;
  size_t count = sizeof data->delivery_info / sizeof data->delivery_info[0];
  if (napi_create_external_arraybuffer(env, data->delivery_info, sizeof data->delivery_info, nullptr, nullptr,
                                       &buffer) != napi_ok) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
      napi_throw_error(env, nullptr, "wslay: cannot create the delivery info array (external buffers refused)");
    }
    return false;
  }
  return napi_create_typedarray(env, napi_int32_array, count, buffer, 0, &array) == napi_ok &&
         napi_set_named_property(env, exports, "deliveryInfo", array) == napi_ok;
}

// Tests only: _testWslayContexts(quietTickMs?) → the wslay contexts this thread's sessions hold now; with a
// number, the thread's quiet tick (AddonData::SetQuietTick) becomes that many milliseconds first.
Napi::Value TestWslayContexts(const Napi::CallbackInfo& info) {
  wslay_node::AddonData* data = info.Env().GetInstanceData<wslay_node::AddonData>();
  if (info[0].IsNumber()) data->SetQuietTick(static_cast<uint64_t>(info[0].As<Napi::Number>().Uint32Value()));
  return Napi::Number::New(info.Env(), static_cast<double>(data->buffers.wslay_contexts));
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace wslay_node;
  AddonData* data = new AddonData(env);
  env.SetInstanceData(data);
  exports.Set("NativeConnection", Connection::DefineClass(env));
  if (!SetRawFunction(env, exports, "queueText", Connection::QueueText, data) ||
      !SetRawFunction(env, exports, "queueBytes", Connection::QueueBytes, data) ||
      !SetDeliveryInfo(env, exports, data)) {
    return exports;  // the pending exception fails the require()
  }
  exports.Set("setSlabGuard", Napi::Function::New(env, SetSlabGuard, "setSlabGuard"));
  exports.Set("setSharedCallback", Napi::Function::New(env, SetSharedCallback, "setSharedCallback"));
  exports.Set("dupSocketFd", Napi::Function::New(env, DupSocketFd, "dupSocketFd"));
  exports.Set("socketAddresses", Napi::Function::New(env, SocketAddresses, "socketAddresses"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("_injectArgumentFailures", Napi::Function::New(env, InjectArgumentFailures, "_injectArgumentFailures"));
  exports.Set("setReceiveBudget", Napi::Function::New(env, SetReceiveBudget, "setReceiveBudget"));
  exports.Set("getReceiveBudget", Napi::Function::New(env, GetReceiveBudget, "getReceiveBudget"));
  PubSubThread::DefineFunctions(env, exports);
  exports.Set("_testFailGrowth", Napi::Function::New(env, TestFailGrowth, "_testFailGrowth"));
  exports.Set("_testWslayContexts", Napi::Function::New(env, TestWslayContexts, "_testWslayContexts"));
  return exports;
}

}  // namespace

NODE_API_MODULE(wslay, InitModule)
