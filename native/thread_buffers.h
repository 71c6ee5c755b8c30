// Buffers one thread's connections share. A loop runs one callback at a time, so one read buffer and one
// write-gathering buffer serve every connection on it; a connection keeps only what is left over when it stops in
// the middle of one. Also the thread's budget for incomplete received messages. No Node or libuv types here: the
// fuzzer uses it too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace wslay_node {

// A connection that holds bytes of an incomplete received message, charged to its thread's ReceiveBudget.
class BudgetHolder {
 public:
  // The thread is over budget and this holder has the most: fail the connection (1008) and give back every byte.
  virtual void EvictForBudget() = 0;

 protected:
  ~BudgetHolder() = default;

 private:
  friend class ReceiveBudget;
  uint64_t charged_ = 0;
  size_t slot_ = SIZE_MAX;  // index in ReceiveBudget::holders_, SIZE_MAX when it holds nothing
};

// Bytes held in incomplete inbound messages (assembly buffers, raw or inflated) by all connections of one thread.
// Not thread-safe: one per thread, like the rest of ThreadBuffers.
class ReceiveBudget {
 public:
  static constexpr uint64_t kDefaultLimit = uint64_t{256} << 20;

  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_; }
  // Applies to the next Charge(): holders already over a lowered limit are not evicted by the call itself.
  void set_limit(uint64_t limit) { limit_ = limit; }

  // Charges `bytes` more to `holder`. Over the limit, the holder with the most bytes (counting `holder` with these
  // `bytes`) is evicted until the charge fits. Returns false, charging nothing, when that holder is `holder`
  // itself: the caller fails its own connection.
  bool Charge(BudgetHolder* holder, uint64_t bytes);
  // Gives back `bytes` (at most what the holder was charged).
  void Refund(BudgetHolder* holder, uint64_t bytes);
  static uint64_t Charged(const BudgetHolder* holder) { return holder->charged_; }

 private:
  uint64_t limit_ = kDefaultLimit;
  uint64_t used_ = 0;
  std::vector<BudgetHolder*> holders_;  // the holders with charged_ > 0
};

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

  ReceiveBudget receive_budget;
  // wslay contexts the thread's sessions hold now (dormant sessions hold none): for tests and memory accounting.
  size_t wslay_contexts = 0;
  // What one chunk of a compressed message inflates to, before it is delivered or appended to the message.
  std::vector<uint8_t> inflated;

  // Test hook (a native test export sets it; never on the hot path, only where a buffer grows): the Nth growth of
  // the given kind from now fails as if memory ran out.
  enum class Growth { kMessage, kOther };
  void FailGrowthAfter(Growth kind, uint32_t n) {
    fail_kind_ = kind;
    fail_countdown_ = n;
  }
  // True when this growth is the one to fail.
  bool InjectedFailure(Growth kind) {
    if (fail_countdown_ == 0 || kind != fail_kind_) return false;
    return --fail_countdown_ == 0;
  }

 private:
  std::unique_ptr<uint8_t[]> read_;
  std::unique_ptr<uint8_t[]> gather_;
  uint8_t mask_pool_[1024];
  size_t mask_used_ = sizeof mask_pool_;
  Growth fail_kind_ = Growth::kMessage;
  uint32_t fail_countdown_ = 0;
};

}  // namespace wslay_node
