// Pub/sub: topics of connections, and publishing to them on every thread of the process.
//
// Each environment (the main thread, each worker) has one PubSubThread: its topics → subscribed connections (by
// connection number, as AddonData finds them), for delivery on that thread's loop. A process-wide registry (one
// mutex) counts the subscribers of each topic per thread, for routing and subscriberCount. A publish is queued to
// the calling thread's subscribers at once and posted to the inbox (a queue + uv_async_t) of every other thread
// with subscribers of the topic; the inbox is drained on that thread's loop, in posting order, so one publisher's
// messages arrive in order on every thread. Delivery queues bytes natively (no JS per recipient); a subscriber over
// its backpressure limit misses the message (or is closed, closeOnBackpressureLimit).
//
// The Redis bridge (src/pubsub.ts) lives on one thread, the main one: topics going active/idle anywhere and
// publishes made on other threads reach it as events through that thread's inbox.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "deflate.h"
#include "frame_writer.h"
#include "uv_handle.h"

namespace wslay_node {

class AddonData;

// One publish, as posted to other threads (the payload copied once, shared by every thread it goes to).
struct PublishedMessage {
  std::string topic;
  std::string payload;
  uint8_t opcode;
  bool compress;
};

// The frames of one published message on one thread (frame_writer.h: SharedFrame), each made when the first
// subscriber needs it and then referenced by every subscriber it fits: the plain frame, and one deflated frame per
// set of compressor parameters for subscribers in shared-compressor mode (server_no_context_takeover, not
// plainWslay). Null when memory ran out or compressing failed: the subscriber then frames the message itself.
class PublishedFrame {
 public:
  PublishedFrame(uint8_t opcode, const uint8_t* data, size_t len, bool compress)
      : opcode(opcode), data(data), len(len), compress(compress) {}
  const uint8_t opcode;
  const uint8_t* const data;
  const size_t len;
  const bool compress;

  const std::shared_ptr<const SharedFrame>& Plain();
  const std::shared_ptr<const SharedFrame>& Deflated(const DeflateParams& params);
  size_t deflates() const { return deflated_.size(); }  // compressions run

 private:
  bool plain_made_ = false;
  std::shared_ptr<const SharedFrame> plain_;
  struct Entry {
    int window_bits, level, mem_level;
    std::shared_ptr<const SharedFrame> frame;
  };
  std::deque<Entry> deflated_;  // references stay valid as it grows; a handful at most
};

// A subscriber with no maxBackpressure misses published messages while this many bytes already wait for it: a
// peer that never reads pins at most this much (plus the message that crossed it), not everything ever published.
constexpr uint64_t kDefaultPublishBackpressure = uint64_t{1} << 20;

// Payload bytes that may wait in one thread's inbox (a thread busy elsewhere, not draining it): beyond this a
// publish skips that thread, as a subscriber over its limit misses a message, and the thread's count of messages
// it missed grows (inbox_dropped()). Without it a blocked worker would let every other thread's publishes pile up.
constexpr size_t kMaxInboxBytes = size_t{64} << 20;

class PubSubThread {
 public:
  explicit PubSubThread(AddonData* data) : data_(data) {}
  ~PubSubThread() { Shutdown(); }
  PubSubThread(const PubSubThread&) = delete;
  PubSubThread& operator=(const PubSubThread&) = delete;

  // False if `id` already had `topic` (or the thread's inbox cannot be made: then a Node error is pending).
  bool Subscribe(uint32_t id, const std::string& topic);
  bool Unsubscribe(uint32_t id, const std::string& topic);
  bool IsSubscribed(uint32_t id, const std::string& topic) const;
  const std::vector<std::string>* TopicsOf(uint32_t id) const;
  // The connection ended (or is destroyed): all its subscriptions end.
  void RemoveConnection(uint32_t id);

  // Queues to this thread's subscribers (returns how many took it) and posts to the other threads'; with
  // `to_bridge`, a bridge on another thread is told (`published`).
  size_t Publish(const std::string& topic, const uint8_t* data, size_t len, uint8_t opcode, bool compress,
                 bool to_bridge);
  static size_t SubscriberCount(const std::string& topic);
  // Messages deflated by this thread's shared compressor (tests and docs: once per message and parameter set).
  uint64_t shared_deflates() const { return shared_deflates_; }
  uint64_t inbox_dropped() const;

  // The bridge's dispatcher on this thread (fn(kind, topic, data, opcode, compress), kind 0 = active, 1 = idle,
  // 2 = published), or an empty value to remove it. Returns the topics active now (false: a Node error is pending).
  bool SetBridge(Napi::Env env, Napi::Value fn, std::vector<std::string>* active);

  // The JS functions of pub/sub (subscribe, publish, …) on the addon's exports (pubsub_js.cc).
  static void DefineFunctions(Napi::Env env, Napi::Object exports);

  // Environment teardown: no more deliveries to this thread; its subscriptions leave the process-wide counts.
  void Shutdown();

  struct InboxItem {
    enum Kind { kActive = 0, kIdle = 1, kPublished = 2, kDeliver = 3 } kind;
    std::shared_ptr<const PublishedMessage> message;  // kDeliver, kPublished
    std::string topic;                                 // kActive, kIdle
  };
  // Under the registry's mutex (pubsub.cc).
  void PostLocked(InboxItem item);

 private:
  bool EnsureInbox();
  size_t DeliverLocal(const std::string& topic, const uint8_t* data, size_t len, uint8_t opcode, bool compress);
  void DrainInbox();
  void CallBridge(const InboxItem& item);

  AddonData* data_;
  std::unordered_map<std::string, std::vector<uint32_t>> subscribers_;  // topic → connection numbers
  std::unordered_map<uint32_t, std::vector<std::string>> topics_;       // connection number → its topics
  UvHandle<uv_async_t> inbox_async_;
  bool shut_down_ = false;
  uint64_t shared_deflates_ = 0;
  std::deque<InboxItem> inbox_;  // under the registry's mutex, as are the next two
  size_t inbox_bytes_ = 0;       // payload bytes of the kDeliver items in inbox_
  uint64_t inbox_dropped_ = 0;
  Napi::FunctionReference bridge_;
  napi_env env_ = nullptr;  // the bridge's
  napi_async_context bridge_context_ = nullptr;
};

}  // namespace wslay_node
