// Buffers one thread's connections share. A loop runs one callback at a time, so one read buffer and one
// write-gathering buffer serve every connection on it; a connection keeps only what is left over when it stops in
// the middle of one. No Node or libuv types here: the fuzzer uses it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace wslay_node {

class ThreadBuffers {
 public:
  static constexpr size_t kReadSize = 64 * 1024;
  static constexpr size_t kGatherSize = 64 * 1024;

  ThreadBuffers() : read_(new uint8_t[kReadSize]), gather_(new uint8_t[kGatherSize]) {}

  uint8_t* read() { return read_.get(); }

  // Write gathering: what wslay emits during one event is appended here and written with one syscall.
  uint8_t* gather() { return gather_.get(); }
  size_t gather_used = 0;

  // Masking keys for client frames, drawn from a pool refilled by the OS's CSPRNG (RFC 6455 §5.3).
  bool NextMask(uint8_t* out, size_t len);

 private:
  std::unique_ptr<uint8_t[]> read_;
  std::unique_ptr<uint8_t[]> gather_;
  uint8_t mask_pool_[1024];
  size_t mask_used_ = sizeof mask_pool_;
};

}  // namespace wslay_node
