#include "pubsub.h"

#include <algorithm>
#include <mutex>

#include "addon_data.h"
#include "connection.h"

namespace wslay_node {

namespace {

// Process-wide: which threads have subscribers of each topic, and how many. One mutex also guards every thread's
// inbox queue, so a thread cannot be posted to once Shutdown() has taken it out (posts happen under the mutex).
struct Registry {
  struct Counts {
    size_t total = 0;
    std::unordered_map<PubSubThread*, size_t> threads;
  };
  std::mutex mutex;
  std::unordered_map<std::string, Counts> topics;
  PubSubThread* bridge_thread = nullptr;
};

// Never destroyed: a worker's teardown may run while the process's static objects are being destroyed.
Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

void RemoveOne(std::vector<uint32_t>* ids, uint32_t id) {
  auto it = std::find(ids->begin(), ids->end(), id);
  if (it != ids->end()) ids->erase(it);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Subscriptions

bool PubSubThread::EnsureInbox() {
  if (shut_down_) return false;
  if (inbox_async_) return true;
  int r = inbox_async_.Init([&](uv_async_t* h) {
    return uv_async_init(data_->loop(), h, [](uv_async_t* async) {
      static_cast<PubSubThread*>(async->data)->DrainInbox();
    });
  });
  if (r != 0) return false;
  inbox_async_.get()->data = this;
  // Posts only arrive for subscribers (or the bridge), whose own handles keep the loop alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(inbox_async_.get()));
  return true;
}

bool PubSubThread::Subscribe(uint32_t id, const std::string& topic) {
  std::vector<std::string>& mine = topics_[id];
  if (std::find(mine.begin(), mine.end(), topic) != mine.end()) return false;
  if (!EnsureInbox()) {
    if (mine.empty()) topics_.erase(id);
    return false;
  }
  mine.push_back(topic);
  subscribers_[topic].push_back(id);
  Registry& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  Registry::Counts& counts = reg.topics[topic];
  ++counts.threads[this];
  if (++counts.total == 1 && reg.bridge_thread != nullptr) {
    reg.bridge_thread->PostLocked({InboxItem::kActive, nullptr, topic});
  }
  return true;
}

namespace {
// Under the mutex: `thread` has `n` fewer subscribers of `topic`.
void DecrementLocked(Registry& reg, PubSubThread* thread, const std::string& topic, size_t n) {
  auto it = reg.topics.find(topic);
  if (it == reg.topics.end()) return;
  Registry::Counts& counts = it->second;
  auto t = counts.threads.find(thread);
  if (t == counts.threads.end()) return;
  n = std::min(n, t->second);
  if ((t->second -= n) == 0) counts.threads.erase(t);
  counts.total -= n;
  if (counts.total == 0) {
    reg.topics.erase(it);
    if (reg.bridge_thread != nullptr) reg.bridge_thread->PostLocked({PubSubThread::InboxItem::kIdle, nullptr, topic});
  }
}
}  // namespace

bool PubSubThread::Unsubscribe(uint32_t id, const std::string& topic) {
  auto mine = topics_.find(id);
  if (mine == topics_.end()) return false;
  auto t = std::find(mine->second.begin(), mine->second.end(), topic);
  if (t == mine->second.end()) return false;
  mine->second.erase(t);
  if (mine->second.empty()) topics_.erase(mine);
  auto subs = subscribers_.find(topic);
  if (subs != subscribers_.end()) {
    RemoveOne(&subs->second, id);
    if (subs->second.empty()) subscribers_.erase(subs);
  }
  Registry& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  DecrementLocked(reg, this, topic, 1);
  return true;
}

bool PubSubThread::IsSubscribed(uint32_t id, const std::string& topic) const {
  auto mine = topics_.find(id);
  return mine != topics_.end() && std::find(mine->second.begin(), mine->second.end(), topic) != mine->second.end();
}

const std::vector<std::string>* PubSubThread::TopicsOf(uint32_t id) const {
  auto mine = topics_.find(id);
  return mine == topics_.end() ? nullptr : &mine->second;
}

void PubSubThread::RemoveConnection(uint32_t id) {
  auto mine = topics_.find(id);
  if (mine == topics_.end()) return;
  std::vector<std::string> topics = std::move(mine->second);
  topics_.erase(mine);
  for (const std::string& topic : topics) {
    auto subs = subscribers_.find(topic);
    if (subs == subscribers_.end()) continue;
    RemoveOne(&subs->second, id);
    if (subs->second.empty()) subscribers_.erase(subs);
  }
  Registry& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  for (const std::string& topic : topics) DecrementLocked(reg, this, topic, 1);
}

uint64_t PubSubThread::inbox_dropped() const {
  std::lock_guard<std::mutex> lock(registry().mutex);
  return inbox_dropped_;
}

size_t PubSubThread::SubscriberCount(const std::string& topic) {
  Registry& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  auto it = reg.topics.find(topic);
  return it == reg.topics.end() ? 0 : it->second.total;
}

// ---------------------------------------------------------------------------------------------------------------
// Publishing

size_t PubSubThread::Publish(const std::string& topic, const uint8_t* data, size_t len, uint8_t opcode,
                             bool compress, bool to_bridge) {
  size_t queued = DeliverLocal(topic, data, len, opcode, compress);
  std::shared_ptr<PublishedMessage> message;  // copied only if another thread takes it
  auto copy = [&]() {
    if (!message) {
      message = std::make_shared<PublishedMessage>();
      message->topic = topic;
      message->payload.assign(reinterpret_cast<const char*>(data), len);
      message->opcode = opcode;
      message->compress = compress;
    }
    return message;
  };
  Registry& reg = registry();
  std::lock_guard<std::mutex> lock(reg.mutex);
  auto it = reg.topics.find(topic);
  if (it != reg.topics.end()) {
    for (auto& entry : it->second.threads) {
      if (entry.first != this) entry.first->PostLocked({InboxItem::kDeliver, copy(), std::string()});
    }
  }
  if (to_bridge && reg.bridge_thread != nullptr && reg.bridge_thread != this) {
    reg.bridge_thread->PostLocked({InboxItem::kPublished, copy(), std::string()});
  }
  return queued;
}

void PubSubThread::PostLocked(InboxItem item) {
  if (item.kind == InboxItem::kDeliver) {
    size_t len = item.message->payload.size();
    if (inbox_bytes_ + len > kMaxInboxBytes && !inbox_.empty()) {
      ++inbox_dropped_;
      return;
    }
    inbox_bytes_ += len;
  }
  inbox_.push_back(std::move(item));
  if (inbox_.size() == 1) uv_async_send(inbox_async_.get());  // more: a wake-up is already on its way
}

size_t PubSubThread::DeliverLocal(const std::string& topic, const uint8_t* data, size_t len, uint8_t opcode,
                                  bool compress) {
  auto it = subscribers_.find(topic);
  if (it == subscribers_.end()) return 0;
  PublishedFrame frame(opcode, data, len, compress);
  size_t queued = 0;
  // No JS runs in here and no subscription changes: QueuePublished only queues, or asks for a close.
  for (uint32_t id : it->second) {
    if (Connection* c = data_->Find(id)) queued += c->QueuePublished(frame) ? 1 : 0;
  }
  shared_deflates_ += frame.deflates();
  return queued;
}

void PubSubThread::DrainInbox() {
  std::deque<InboxItem> batch;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    batch.swap(inbox_);
    inbox_bytes_ = 0;
  }
  for (const InboxItem& item : batch) {
    if (shut_down_) return;
    if (item.kind == InboxItem::kDeliver) {
      const PublishedMessage& m = *item.message;
      DeliverLocal(m.topic, reinterpret_cast<const uint8_t*>(m.payload.data()), m.payload.size(), m.opcode,
                   m.compress);
    } else {
      CallBridge(item);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The bridge (on one thread)

bool PubSubThread::SetBridge(Napi::Env env, Napi::Value fn, std::vector<std::string>* active) {
  Registry& reg = registry();
  if (!fn.IsFunction()) {
    bridge_.Reset();
    std::lock_guard<std::mutex> lock(reg.mutex);
    if (reg.bridge_thread == this) reg.bridge_thread = nullptr;
    return true;
  }
  if (!EnsureInbox()) {
    Napi::Error::New(env, "cannot create the thread's pub/sub inbox").ThrowAsJavaScriptException();
    return false;
  }
  if (bridge_context_ == nullptr) {
    napi_value name = nullptr;
    if (napi_create_string_utf8(env, "wslay.PublishBridge", NAPI_AUTO_LENGTH, &name) != napi_ok ||
        napi_async_init(env, nullptr, name, &bridge_context_) != napi_ok) {
      bridge_context_ = nullptr;
      if (!env.IsExceptionPending()) Napi::Error::New(env, "cannot create the bridge's async context").ThrowAsJavaScriptException();
      return false;
    }
  }
  env_ = env;
  bridge_ = Napi::Persistent(fn.As<Napi::Function>());
  if (bridge_.IsEmpty()) return false;
  std::lock_guard<std::mutex> lock(reg.mutex);
  if (reg.bridge_thread != nullptr && reg.bridge_thread != this) {
    bridge_.Reset();
    Napi::Error::New(env, "a publish bridge is already set on another thread").ThrowAsJavaScriptException();
    return false;
  }
  reg.bridge_thread = this;
  for (const auto& entry : reg.topics) active->push_back(entry.first);
  return true;
}

void PubSubThread::CallBridge(const InboxItem& item) {
  if (bridge_.IsEmpty()) return;  // removed since: the JS side asks for the active topics again when set
  napi_env env = env_;
  Napi::HandleScope scope(env_);
  napi_value args[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
  bool ok = napi_create_uint32(env, item.kind, &args[0]) == napi_ok;
  if (item.kind == InboxItem::kPublished) {
    const PublishedMessage& m = *item.message;
    void* copy = nullptr;
    static const char kNothing = 0;
    ok = ok && napi_create_string_utf8(env, m.topic.data(), m.topic.size(), &args[1]) == napi_ok &&
         napi_create_buffer_copy(env, m.payload.size(), m.payload.empty() ? &kNothing : m.payload.data(), &copy,
                                 &args[2]) == napi_ok &&
         napi_create_uint32(env, m.opcode, &args[3]) == napi_ok && napi_get_boolean(env, m.compress, &args[4]) == napi_ok;
  } else {
    ok = ok && napi_create_string_utf8(env, item.topic.data(), item.topic.size(), &args[1]) == napi_ok &&
         napi_get_undefined(env, &args[2]) == napi_ok && napi_get_undefined(env, &args[3]) == napi_ok &&
         napi_get_undefined(env, &args[4]) == napi_ok;
  }
  napi_value recv = nullptr, result = nullptr;
  ok = ok && napi_get_global(env, &recv) == napi_ok &&
       napi_make_callback(env, bridge_context_, recv, bridge_.Value(), 5, args, &result) == napi_ok;
  if (ok) return;
  // A bridge that throws: like an EventEmitter listener, the error goes to 'uncaughtException'.
  bool pending = false;
  napi_value error = nullptr;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &error) == napi_ok && error != nullptr) {
    napi_fatal_exception(env, error);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Teardown

void PubSubThread::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  {
    Registry& reg = registry();
    std::lock_guard<std::mutex> lock(reg.mutex);
    if (reg.bridge_thread == this) reg.bridge_thread = nullptr;
    for (const auto& entry : subscribers_) DecrementLocked(reg, this, entry.first, entry.second.size());
    inbox_.clear();  // nothing can be posted here any more
    inbox_bytes_ = 0;
  }
  subscribers_.clear();
  topics_.clear();
  bridge_.Reset();
  if (bridge_context_ != nullptr) {
    napi_async_destroy(env_, bridge_context_);
    bridge_context_ = nullptr;
  }
  inbox_async_.Reset();
}

// ---------------------------------------------------------------------------------------------------------------
// Frames

const std::shared_ptr<const SharedFrame>& PublishedFrame::Plain() {
  if (!plain_made_) {
    plain_made_ = true;
    plain_ = SharedFrame::Make(opcode, 0, data, len);
  }
  return plain_;
}

const std::shared_ptr<const SharedFrame>& PublishedFrame::Deflated(const DeflateParams& params) {
  for (const Entry& e : deflated_) {
    if (e.window_bits == params.compressWindowBits && e.level == params.level && e.mem_level == params.memLevel) {
      return e.frame;
    }
  }
  DeflateParams shared = params;
  shared.compressNoContextTakeover = true;
  MessageCompressor compressor(shared);
  std::vector<uint8_t> bytes;
  deflated_.push_back({params.compressWindowBits, params.level, params.memLevel, nullptr});
  if (compressor.Compress(data, len, true, &bytes)) {
    deflated_.back().frame = SharedFrame::Make(opcode, WSLAY_RSV1_BIT, bytes.data(), bytes.size());
  }
  return deflated_.back().frame;
}

bool Connection::QueuePublished(PublishedFrame& frame) {
  if (closed_ || session_->IsClosing()) return false;
  Session& session = *session_;
  const SessionConfig& config = session.config();
  bool would_compress = config.deflate && frame.len >= config.deflate_threshold;
  bool compress = frame.compress && would_compress;
  // The thread's one frame where it fits this session: deflated once for every shared-compressor subscriber with
  // these parameters, or plain where this session would not compress it anyway. Otherwise the session frames it
  // (compressed by its own compressor, or plain for compress: false). Never on the plain wslay path.
  const std::shared_ptr<const SharedFrame>* shared = nullptr;
  if (compress && session.SharesCompressor()) shared = &frame.Deflated(config.deflate_params);
  else if (!would_compress && !config.plain_wslay) shared = &frame.Plain();
  if (shared != nullptr && !*shared) shared = nullptr;
  size_t len = shared != nullptr ? (*shared)->payload_len() : frame.len;
  uint64_t buffered = session.BufferedAmount();
  bool over = config.max_backpressure != 0 ? buffered + len > config.max_backpressure
                                           : buffered >= kDefaultPublishBackpressure;
  if (!over) {
    QueueResult r = shared != nullptr ? session.QueueShared(*shared) : QueueResult::kNeedsOwnFrame;
    if (r == QueueResult::kNeedsOwnFrame) r = session.QueuePublished(frame.opcode, frame.data, frame.len, compress);
    if (r == QueueResult::kOk) {
      if (!above_drain_ && session.BufferedAmount() > drain_threshold_) above_drain_ = true;
      // Outside this connection's own event: written once per loop iteration with whatever else is published
      // meanwhile (one write, no writable poll unless the socket is full). Inside it, the end of the step writes it.
      if (depth_ == 0) {
        if (session.attached()) data_->MarkDirty(this);
        else UpdatePoll();
      }
      return true;
    }
    if (r == QueueResult::kClosing) return false;
  }
  ++dropped_messages_;
  if (over && close_on_backpressure_limit_ && session.RequestClose(1008, "subscriber too slow")) data_->Defer(this);
  return false;
}

}  // namespace wslay_node
