// What one Node environment (the main thread or one worker) shares among its connections. A loop runs one callback
// at a time, so one read buffer and one write-gathering buffer serve every connection on it; each connection keeps
// only the bytes left over when it stops in the middle of a buffer.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <unordered_set>
#include <vector>

#include "uv_handle.h"

namespace wslay_node {

class Connection;

class AddonData {
 public:
  static constexpr size_t kReadBufferSize = 64 * 1024;
  static constexpr size_t kGatherSize = 64 * 1024;

  explicit AddonData(Napi::Env env);
  ~AddonData();

  uv_loop_t* loop() const { return loop_; }
  uint8_t* read_buffer() { return read_buffer_.get(); }

  // Write gathering: what wslay emits during one send phase is appended here and written with one syscall.
  uint8_t* gather() { return gather_.get(); }
  size_t gather_used = 0;

  // Masking keys for client frames, drawn from a pool refilled by the OS's CSPRNG.
  bool NextMask(uint8_t* out, size_t len);

  // Runs `connection->Process()` on a later loop turn (pending input after a resume, a waiter on an empty queue).
  void Defer(Connection* connection);
  void CancelDeferred(Connection* connection);

  // Live connections, torn down without calling JS when the environment exits.
  std::unordered_set<Connection*> live;

  Napi::FunctionReference connection_class;

 private:
  static void OnIdle(uv_idle_t* idle);
  static void OnEnvCleanup(void* arg);

  uv_loop_t* loop_ = nullptr;
  std::unique_ptr<uint8_t[]> read_buffer_;
  std::unique_ptr<uint8_t[]> gather_;
  uint8_t mask_pool_[1024];
  size_t mask_used_ = sizeof mask_pool_;
  UvHandle<uv_idle_t> idle_;
  std::vector<Connection*> deferred_;
  napi_env env_;
};

}  // namespace wslay_node
