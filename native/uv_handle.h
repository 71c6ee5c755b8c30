// Owns one libuv handle. libuv may still touch a handle after uv_close() until its close callback runs, so the
// memory is freed there, never here: resetting only starts the close. The pattern follows zeromq.js's UvHandle.
#pragma once

#include <uv.h>

namespace wslay_node {

// Handles of this thread whose close callback has not run yet. The callback is code in this addon, so the
// environment's teardown must wait for it (AddonData's async cleanup hook) before Node unloads the addon.
inline thread_local size_t open_uv_handles = 0;
inline thread_local void (*on_all_uv_handles_closed)() = nullptr;

template <typename T>
class UvHandle {
 public:
  UvHandle() = default;
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { Reset(); }

  // Allocates the handle and runs `init` on it (a uv_*_init call). On failure nothing is kept and the uv error
  // code is returned; a handle whose init failed must not be passed to uv_close().
  template <typename InitFn>
  int Init(InitFn&& init) {
    Reset();
    T* h = new T();
    int r = init(h);
    if (r != 0) {
      delete h;
      return r;
    }
    handle_ = h;
    ++open_uv_handles;
    return 0;
  }

  T* get() const { return handle_; }
  explicit operator bool() const { return handle_ != nullptr; }

  void Reset() {
    if (handle_ == nullptr) return;
    uv_handle_t* h = reinterpret_cast<uv_handle_t*>(handle_);
    handle_ = nullptr;
    uv_close(h, [](uv_handle_t* closed) {
      delete reinterpret_cast<T*>(closed);
      if (--open_uv_handles == 0 && on_all_uv_handles_closed != nullptr) on_all_uv_handles_closed();
    });
  }

 private:
  T* handle_ = nullptr;
};

}  // namespace wslay_node
