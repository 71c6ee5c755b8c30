#include "thread_buffers.h"

#include <cstring>

#include "socket_io.h"

namespace wslay_node {

bool ThreadBuffers::NextMask(uint8_t* out, size_t len) {
  if (len > sizeof mask_pool_) return FillRandom(out, len);
  if (sizeof mask_pool_ - mask_used_ < len) {
    if (!FillRandom(mask_pool_, sizeof mask_pool_)) return false;
    mask_used_ = 0;
  }
  std::memcpy(out, mask_pool_ + mask_used_, len);
  std::memset(mask_pool_ + mask_used_, 0, len);  // never hand out the same bytes twice
  mask_used_ += len;
  return true;
}

}  // namespace wslay_node

namespace wslay_node {

bool ReceiveBudget::Charge(BudgetHolder* holder, uint64_t bytes) {
  while (used_ + bytes > limit_) {
    BudgetHolder* largest = holder;
    uint64_t most = holder->charged_ + bytes;
    for (BudgetHolder* h : holders_) {
      if (h != holder && h->charged_ > most) {
        largest = h;
        most = h->charged_;
      }
    }
    if (largest == holder) return false;
    uint64_t before = used_;
    largest->EvictForBudget();  // refunds everything it held
    if (used_ >= before) return false;  // it gave nothing back: do not loop
  }
  if (holder->charged_ == 0 && bytes > 0) {
    holder->slot_ = holders_.size();
    holders_.push_back(holder);
  }
  holder->charged_ += bytes;
  used_ += bytes;
  return true;
}

void ReceiveBudget::Refund(BudgetHolder* holder, uint64_t bytes) {
  if (bytes > holder->charged_) bytes = holder->charged_;
  holder->charged_ -= bytes;
  used_ -= bytes;
  if (holder->charged_ == 0 && holder->slot_ != SIZE_MAX) {
    BudgetHolder* last = holders_.back();  // swap-remove: O(1)
    holders_[holder->slot_] = last;
    last->slot_ = holder->slot_;
    holders_.pop_back();
    holder->slot_ = SIZE_MAX;
  }
}

}  // namespace wslay_node
