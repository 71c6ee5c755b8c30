// Module entry: one AddonData per environment (main thread or worker), and the NativeConnection class.
#include <napi.h>

#include "addon_data.h"
#include "connection.h"
#include "socket_io.h"

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

// _injectArgumentFailures(count): tests only, see AddonData::injected_argument_failures.
Napi::Value InjectArgumentFailures(const Napi::CallbackInfo& info) {
  if (info[0].IsNumber()) {
    info.Env().GetInstanceData<wslay_node::AddonData>()->injected_argument_failures =
        info[0].As<Napi::Number>().Uint32Value();
  }
  return info.Env().Undefined();
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace wslay_node;
  env.SetInstanceData(new AddonData(env));
  exports.Set("NativeConnection", Connection::DefineClass(env));
  exports.Set("queueMsg", Napi::Function::New(env, Connection::QueueMsgByHandle, "queueMsg"));
  exports.Set("setSlabGuard", Napi::Function::New(env, SetSlabGuard, "setSlabGuard"));
  exports.Set("dupSocketFd", Napi::Function::New(env, DupSocketFd, "dupSocketFd"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("_injectArgumentFailures", Napi::Function::New(env, InjectArgumentFailures, "_injectArgumentFailures"));
  return exports;
}

}  // namespace

NODE_API_MODULE(wslay, InitModule)
