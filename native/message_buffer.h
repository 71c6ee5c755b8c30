// One incomplete received message, assembled by the binding as one contiguous buffer (wslay runs without its own
// buffering, which kept every fragment as separate allocations of ~90 bytes' overhead). Every byte of capacity is
// charged to the thread's ReceiveBudget and given back when the message completes or the connection ends.
// Growth goes through realloc (large blocks are remapped, not copied) and never throws.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "thread_buffers.h"

namespace wslay_node {

class MessageBuffer {
 public:
  enum class Grow { kOk, kOverBudget, kNoMemory };

  MessageBuffer(ThreadBuffers* buffers, BudgetHolder* holder) : buffers_(buffers), holder_(holder) {}
  ~MessageBuffer() { Release(); }
  MessageBuffer(const MessageBuffer&) = delete;
  MessageBuffer& operator=(const MessageBuffer&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Room for `n` more bytes, and for `coming` more after them when that is known (the rest of a frame's declared
  // payload; trusted up to kMaxAhead, so a header alone cannot make us reserve much). Growth is otherwise
  // geometric (a flood of tiny fragments costs O(log n) reallocs), never beyond `limit`, the most the message may
  // hold. The caller writes into end() and then calls Commit(n): a frame's payload is copied into the message
  // once, and a frame up to kMaxAhead never moves while it arrives.
  Grow Reserve(size_t n, uint64_t limit, uint64_t coming = 0) {
    size_t need = size_ + n;
    if (need <= capacity_) return Grow::kOk;
    uint64_t ahead = coming < kMaxAhead ? coming : kMaxAhead;
    uint64_t doubled = capacity_ < kMinCapacity / 2 ? kMinCapacity : uint64_t{capacity_} * 2;
    uint64_t wanted = need + ahead > doubled ? need + ahead : doubled;
    size_t target = static_cast<size_t>(wanted < limit ? wanted : limit);
    if (target < need) target = need;
    if (!buffers_->receive_budget.Charge(holder_, target - capacity_)) return Grow::kOverBudget;
    void* grown = buffers_->InjectedFailure(ThreadBuffers::Growth::kMessage) ? nullptr : std::realloc(data_, target);
    if (grown == nullptr) {
      buffers_->receive_budget.Refund(holder_, target - capacity_);
      return Grow::kNoMemory;
    }
    data_ = static_cast<uint8_t*>(grown);
    capacity_ = target;
    return Grow::kOk;
  }
  uint8_t* end() { return data_ + size_; }
  void Commit(size_t n) { size_ += n; }

  Grow Append(const uint8_t* bytes, size_t n, uint64_t limit, uint64_t coming = 0) {
    Grow r = Reserve(n, limit, coming);
    if (r != Grow::kOk) return r;
    std::memcpy(end(), bytes, n);
    Commit(n);
    return Grow::kOk;
  }

  // Frees the memory and gives its budget back.
  void Release() {
    if (data_ == nullptr) return;
    std::free(data_);
    buffers_->receive_budget.Refund(holder_, capacity_);
    data_ = nullptr;
    size_ = capacity_ = 0;
  }

 private:
  static constexpr size_t kMinCapacity = 4096;
  static constexpr uint64_t kMaxAhead = 1 << 20;

  ThreadBuffers* buffers_;
  BudgetHolder* holder_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace wslay_node
