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
    idle_.Reset();
  }
}

void AddonData::OnEnvCleanup(napi_async_cleanup_hook_handle handle, void* arg) {
  AddonData* self = static_cast<AddonData*>(arg);
  self->cleanup_hook_ = nullptr;
  self->AbandonAll();
  self->deferred_.clear();
  self->idle_.Reset();
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
