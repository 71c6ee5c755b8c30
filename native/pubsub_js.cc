// The JS functions of pub/sub (typed in src/native.ts, wrapped by src/pubsub.ts and src/connection.ts). A
// connection is named by its number (_handle()), as on queueMsg's hot path.
#include <new>

#include "addon_data.h"
#include "connection.h"
#include "pubsub.h"

namespace wslay_node {

namespace {

PubSubThread& ThreadOf(const Napi::CallbackInfo& info) { return info.Env().GetInstanceData<AddonData>()->pubsub; }

bool GetTopic(Napi::Env env, Napi::Value value, std::string* topic) {
  if (!value.IsString()) {
    Napi::TypeError::New(env, "topic must be a string").ThrowAsJavaScriptException();
    return false;
  }
  *topic = value.As<Napi::String>().Utf8Value();
  return !env.IsExceptionPending();
}

// The connection numbered info[0], and the topic in info[1]. Null (with a TypeError) for anything else.
Connection* GetSubscriber(const Napi::CallbackInfo& info, std::string* topic) {
  Napi::Env env = info.Env();
  Connection* c = nullptr;
  if (info[0].IsNumber()) c = env.GetInstanceData<AddonData>()->Find(info[0].As<Napi::Number>().Uint32Value());
  if (c == nullptr) {
    Napi::TypeError::New(env, "not a WebSocketConnection handle").ThrowAsJavaScriptException();
    return nullptr;
  }
  if (topic != nullptr && !GetTopic(env, info[1], topic)) return nullptr;
  return c;
}

// subscribe(handle, topic) → true if newly subscribed; false if it already was, or the connection has ended.
Napi::Value JsSubscribe(const Napi::CallbackInfo& info) {
  std::string topic;
  Connection* c = GetSubscriber(info, &topic);
  if (c == nullptr) return info.Env().Undefined();
  if (c->ended()) return Napi::Boolean::New(info.Env(), false);
  try {
    return Napi::Boolean::New(info.Env(), ThreadOf(info).Subscribe(c->id(), topic));
  } catch (const std::bad_alloc&) {
    Napi::Error::New(info.Env(), "out of memory subscribing").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
}

Napi::Value JsUnsubscribe(const Napi::CallbackInfo& info) {
  std::string topic;
  Connection* c = GetSubscriber(info, &topic);
  if (c == nullptr) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), ThreadOf(info).Unsubscribe(c->id(), topic));
}

Napi::Value JsIsSubscribed(const Napi::CallbackInfo& info) {
  std::string topic;
  Connection* c = GetSubscriber(info, &topic);
  if (c == nullptr) return info.Env().Undefined();
  return Napi::Boolean::New(info.Env(), ThreadOf(info).IsSubscribed(c->id(), topic));
}

// topics(handle) → the connection's topics, in the order they were subscribed.
Napi::Value JsTopics(const Napi::CallbackInfo& info) {
  Connection* c = GetSubscriber(info, nullptr);
  if (c == nullptr) return info.Env().Undefined();
  const std::vector<std::string>* topics = ThreadOf(info).TopicsOf(c->id());
  Napi::Array result = Napi::Array::New(info.Env(), topics ? topics->size() : 0);
  for (size_t i = 0; topics != nullptr && i < topics->size(); ++i) {
    result.Set(static_cast<uint32_t>(i), Napi::String::New(info.Env(), (*topics)[i]));
  }
  return result;
}

Napi::Value JsDroppedMessages(const Napi::CallbackInfo& info) {
  Connection* c = GetSubscriber(info, nullptr);
  if (c == nullptr) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(c->dropped_messages()));
}

// publish(topic, data, opcode, compress, toBridge) → the number of this thread's subscribers it was queued to.
Napi::Value JsPublish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string topic, storage;
  if (!GetTopic(env, info[0], &topic)) return env.Undefined();
  const uint8_t* data = nullptr;
  size_t len = 0;
  if (!GetBytes(env, info[1], &storage, &data, &len)) {
    if (!env.IsExceptionPending()) {
      Napi::TypeError::New(env, "data must be a string, Buffer, TypedArray, DataView or ArrayBuffer")
          .ThrowAsJavaScriptException();
    }
    return env.Undefined();
  }
  uint32_t opcode = info[2].IsNumber() ? info[2].As<Napi::Number>().Uint32Value() : 0;
  if (!info[2].IsNumber() || (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME) ||
      info[2].As<Napi::Number>().DoubleValue() != opcode) {
    Napi::RangeError::New(env, "opcode must be TEXT (1) or BINARY (2)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  try {
    size_t n = ThreadOf(info).Publish(topic, data, len, static_cast<uint8_t>(opcode), info[3].ToBoolean(),
                                      info[4].ToBoolean());
    return Napi::Number::New(env, static_cast<double>(n));
  } catch (const std::bad_alloc&) {
    Napi::Error::New(env, "out of memory publishing").ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

Napi::Value JsSubscriberCount(const Napi::CallbackInfo& info) {
  std::string topic;
  if (!GetTopic(info.Env(), info[0], &topic)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(PubSubThread::SubscriberCount(topic)));
}

// setPublishBridge(dispatch | null) → the topics active now (see PubSubThread::SetBridge).
Napi::Value JsSetPublishBridge(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<std::string> active;
  if (!ThreadOf(info).SetBridge(env, info[0], &active)) return env.Undefined();
  Napi::Array result = Napi::Array::New(env, active.size());
  for (size_t i = 0; i < active.size(); ++i) result.Set(static_cast<uint32_t>(i), Napi::String::New(env, active[i]));
  return result;
}

// _pubsubStats() → [messages deflated by this thread's shared compressor, zlib bytes allocated in the process,
// messages this thread's full inbox missed] (tests and bench/pubsub-deflate.mjs).
Napi::Value JsStats(const Napi::CallbackInfo& info) {
  Napi::Array result = Napi::Array::New(info.Env(), 3);
  result.Set(uint32_t{0}, Napi::Number::New(info.Env(), static_cast<double>(ThreadOf(info).shared_deflates())));
  result.Set(uint32_t{1}, Napi::Number::New(info.Env(), static_cast<double>(ZlibBytesInUse())));
  result.Set(uint32_t{2}, Napi::Number::New(info.Env(), static_cast<double>(ThreadOf(info).inbox_dropped())));
  return result;
}

}  // namespace

void PubSubThread::DefineFunctions(Napi::Env env, Napi::Object exports) {
  exports.Set("subscribe", Napi::Function::New(env, JsSubscribe, "subscribe"));
  exports.Set("unsubscribe", Napi::Function::New(env, JsUnsubscribe, "unsubscribe"));
  exports.Set("isSubscribed", Napi::Function::New(env, JsIsSubscribed, "isSubscribed"));
  exports.Set("topics", Napi::Function::New(env, JsTopics, "topics"));
  exports.Set("droppedMessages", Napi::Function::New(env, JsDroppedMessages, "droppedMessages"));
  exports.Set("publish", Napi::Function::New(env, JsPublish, "publish"));
  exports.Set("subscriberCount", Napi::Function::New(env, JsSubscriberCount, "subscriberCount"));
  exports.Set("_pubsubStats", Napi::Function::New(env, JsStats, "_pubsubStats"));
  exports.Set("setPublishBridge", Napi::Function::New(env, JsSetPublishBridge, "setPublishBridge"));
}

}  // namespace wslay_node
