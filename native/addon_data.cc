#include "addon_data.h"

#include <algorithm>
#include <cstring>

#include "connection.h"

namespace wslay_node {

namespace {
// The cleanup hook in progress on this thread, removed once its last handle has closed.
thread_local napi_async_cleanup_hook_handle closing_hook = nullptr;
}  // namespace

AddonData::AddonData(Napi::Env env) : env_(env) {
  napi_get_uv_event_loop(env, &loop_);  // the calling thread's loop: each worker has its own
  // Asynchronous, because closing libuv handles finishes in callbacks on the loop, after the hook returns.
  napi_add_async_cleanup_hook(env, OnEnvCleanup, this, &cleanup_hook_);
}

AddonData::~AddonData() {
  if (slab_ != nullptr) napi_delete_reference(env_, slab_);
  // Normally the hook has run; if Node deletes the instance data first, end everything now.
  if (cleanup_hook_ != nullptr) {
    napi_remove_async_cleanup_hook(cleanup_hook_);
    cleanup_hook_ = nullptr;
    AbandonAll();
    pubsub.Shutdown();
    idle_.Reset();
    timer_.Reset();
    flush_.Reset();
  }
}

void AddonData::OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  AddonData* self = static_cast<AddonData*>(arg);
  self->cleanup_hook_ = nullptr;
  self->AbandonAll();
  self->pubsub.Shutdown();  // closes its inbox handle, so before the handle count below
  self->deferred_.clear();
  self->dirty_.clear();
  self->idle_.Reset();
  self->timer_.Reset();
  self->flush_.Reset();
  if (open_uv_handles == 0) {
    napi_remove_async_cleanup_hook(handle);
  } else {
    closing_hook = handle;
    on_all_uv_handles_closed = OnAllHandlesClosed;
  }
}

void AddonData::OnAllHandlesClosed() {
  on_all_uv_handles_closed = nullptr;
  napi_async_cleanup_hook_handle handle = closing_hook;
  closing_hook = nullptr;
  if (handle != nullptr) napi_remove_async_cleanup_hook(handle);
}

bool AddonData::CopyToJs(napi_env env, const uint8_t* data, size_t len, napi_value* array_buffer, size_t* offset) {
  void* base = nullptr;
  if (len > kPooledMax || mark_untransferable.IsEmpty()) {
    if (napi_create_arraybuffer(env, len, &base, array_buffer) != napi_ok) return false;
    std::memcpy(base, data, len);
    *offset = 0;
    return true;
  }
  if (slab_ == nullptr || slab_used_ + len > kSlabSize) {
    if (napi_create_arraybuffer(env, kSlabSize, &base, array_buffer) != napi_ok) return false;
    napi_value global = nullptr, ignored = nullptr;
    if (napi_get_global(env, &global) != napi_ok ||
        napi_call_function(env, global, mark_untransferable.Value(), 1, array_buffer, &ignored) != napi_ok) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      return false;
    }
    napi_ref slab = nullptr;
    if (napi_create_reference(env, *array_buffer, 1, &slab) != napi_ok) return false;
    if (slab_ != nullptr) napi_delete_reference(env, slab_);
    slab_ = slab;
    slab_base_ = static_cast<uint8_t*>(base);
    slab_used_ = 0;
  } else if (napi_get_reference_value(env, slab_, array_buffer) != napi_ok || *array_buffer == nullptr) {
    return false;
  }
  if (len) std::memcpy(slab_base_ + slab_used_, data, len);
  *offset = slab_used_;
  slab_used_ += (len + 7) & ~size_t{7};  // keep views 8-byte aligned
  return true;
}

uint32_t AddonData::Register(Connection* connection) {
  if (!free_ids_.empty()) {
    uint32_t id = free_ids_.back();
    free_ids_.pop_back();
    by_id_[id] = connection;
    return id;
  }
  by_id_.push_back(connection);
  return static_cast<uint32_t>(by_id_.size() - 1);
}

void AddonData::Unregister(uint32_t id) {
  if (id >= by_id_.size() || by_id_[id] == nullptr) return;
  by_id_[id] = nullptr;
  free_ids_.push_back(id);
}

void AddonData::AbandonAll() {
  std::vector<Connection*> all(by_id_.begin(), by_id_.end());
  for (Connection* c : all) {
    if (c != nullptr) c->Abandon(true);  // does nothing for a closed one
  }
}

void AddonData::Defer(Connection* connection) {
  if (connection->defer_pending) return;
  connection->defer_pending = true;
  deferred_.push_back(connection->id());
  if (!idle_) {
    if (idle_.Init([&](uv_idle_t* h) { return uv_idle_init(loop_, h); }) != 0) return;
    idle_.get()->data = this;
    // Deferred work alone must not keep the process alive; the connection's own handles do that.
    uv_unref(reinterpret_cast<uv_handle_t*>(idle_.get()));
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(idle_.get()))) uv_idle_start(idle_.get(), OnIdle);
}

void AddonData::MarkDirty(Connection* connection) {
  if (connection->flush_pending) return;
  if (flushing_) {
    // Queued from a callback the flush itself ran: this iteration's prepare phase is over, and the loop may block
    // in poll next. Deferred work (an idle handle) keeps it from blocking, and Process() writes it.
    Defer(connection);
    return;
  }
  connection->flush_pending = true;
  dirty_.push_back(connection->id());
  if (!flush_) {
    if (flush_.Init([&](uv_prepare_t* h) { return uv_prepare_init(loop_, h); }) != 0) {
      connection->flush_pending = false;
      dirty_.pop_back();
      Defer(connection);
      return;
    }
    flush_.get()->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(flush_.get()));  // the connections' own handles keep the loop alive
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(flush_.get()))) uv_prepare_start(flush_.get(), OnPrepare);
}

void AddonData::OnPrepare(uv_prepare_t* prepare) {
  AddonData* self = static_cast<AddonData*>(prepare->data);
  std::vector<uint32_t> batch;
  batch.swap(self->dirty_);
  self->flushing_ = true;
  for (uint32_t id : batch) {
    // Looked up again: an earlier one may have let this one be collected (then it is not found).
    if (Connection* c = self->Find(id)) {
      c->flush_pending = false;
      c->FlushQueued();
    }
  }
  self->flushing_ = false;
  // Kept for the next batch: one vector per thread, not one allocation per iteration.
  if (self->dirty_.empty()) {
    batch.clear();
    self->dirty_.swap(batch);
    if (self->flush_) uv_prepare_stop(self->flush_.get());
  }
}

void AddonData::CancelDeferred(Connection* connection) {
  if (!connection->defer_pending) return;
  connection->defer_pending = false;
  deferred_.erase(std::remove(deferred_.begin(), deferred_.end(), connection->id()), deferred_.end());
}

void AddonData::OnIdle(uv_idle_t* idle) {
  AddonData* self = static_cast<AddonData*>(idle->data);
  std::vector<uint32_t> batch;
  batch.swap(self->deferred_);
  for (uint32_t id : batch) {
    if (Connection* c = self->Find(id)) c->defer_pending = false;
  }
  for (uint32_t id : batch) {
    // Looked up again: an earlier one in this batch may have let this one be collected (then it is not found).
    if (Connection* c = self->Find(id)) c->Process(0);
  }
  if (self->deferred_.empty() && self->idle_) uv_idle_stop(self->idle_.get());
}

}  // namespace wslay_node

namespace wslay_node {

uint64_t AddonData::ScheduleTimer(uint32_t id, uint64_t due) {
  uint64_t seq = next_timer_seq_++;
  timers_.push({due, seq, id});
  ArmTimer();
  return seq;
}

void AddonData::ArmTimer() {
  if (timers_.empty()) return;
  uint64_t due = timers_.top().due;
  if (timer_armed_for_ != 0 && timer_armed_for_ <= due) return;  // already armed for this one or an earlier one
  if (!timer_) {
    if (timer_.Init([&](uv_timer_t* t) { return uv_timer_init(loop_, t); }) != 0) return;
    timer_.get()->data = this;
    // Like deferred work: the connections' own handles keep the process alive, not their timers.
    uv_unref(reinterpret_cast<uv_handle_t*>(timer_.get()));
  }
  uint64_t now = uv_now(loop_);
  timer_armed_for_ = due;
  uv_timer_start(timer_.get(), OnTimer, due > now ? due - now : 0, 0);
}

void AddonData::OnTimer(uv_timer_t* timer) {
  AddonData* self = static_cast<AddonData*>(timer->data);
  self->timer_armed_for_ = 0;
  uint64_t now = uv_now(self->loop_);
  // The due entries are taken first: what their connections schedule while they run waits for the next turn.
  std::vector<TimerEntry> due;
  while (!self->timers_.empty() && self->timers_.top().due <= now) {
    due.push_back(self->timers_.top());
    self->timers_.pop();
  }
  for (const TimerEntry& e : due) {
    // Looked up by number: a connection that is gone is not found; one that was replaced has another seq.
    if (Connection* c = self->Find(e.id)) c->OnTimer(e.seq, now);
  }
  self->ArmTimer();
}

}  // namespace wslay_node
