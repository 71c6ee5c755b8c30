// Where a Session's bytes come from and go to. Two implementations:
//   - FdTransport: the socket fd itself (recv / gathered sendmsg), polled by the host with uv_poll_t: the fast path
//     for plain TCP;
//   - StreamTransport: bytes the host pushes in (a Node Duplex's 'data' chunks, e.g. a TLSSocket) and bytes collected
//     for the host to write out as one Buffer per event. No Node types here: the host (Connection) does the JS side.
// One indirect call per read or write (the fd path's syscall), never per byte.
#pragma once

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "socket_io.h"

namespace wslay_node {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual IoResult Read(uint8_t* buf, size_t len) = 0;
  // Writes `n` slices in order with one syscall (at most 64); a partial write is kOk with fewer bytes.
  virtual IoResult WriteV(const struct iovec* slices, size_t n) = 0;
  // Writes `a` then `b` (either may be empty).
  IoResult Write(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
    struct iovec slices[2] = {{const_cast<uint8_t*>(a), alen}, {const_cast<uint8_t*>(b), blen}};
    return WriteV(slices, 2);
  }
  // Bytes taken by Write() that have not left yet (the stream's own buffer): part of bufferedAmount.
  virtual size_t Pending() const { return 0; }
};

class FdTransport final : public Transport {
 public:
  explicit FdTransport(int fd) : fd_(fd) {}
  ~FdTransport() override { ::close(fd_); }
  FdTransport(const FdTransport&) = delete;
  FdTransport& operator=(const FdTransport&) = delete;
  IoResult Read(uint8_t* buf, size_t len) override { return ReadSome(fd_, buf, len); }
  IoResult WriteV(const struct iovec* slices, size_t n) override {
    // Empty slices are left out (the kernel would take them, but they cost an iovec each).
    struct iovec kept[64];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; ++i) {
      if (slices[i].iov_len) kept[k++] = slices[i];
    }
    return WriteSomeV(fd_, kept, k);
  }

 private:
  int fd_;
};

class StreamTransport final : public Transport {
 public:
  // `high_water` bytes handed to the stream and not yet written by it (plus those collected for the next write)
  // make writes block, so what the peer does not read waits in the session's queue, where maxBackpressure sees it.
  explicit StreamTransport(size_t high_water) : high_water_(high_water) {}

  // Input. A chunk is lent for one Step(); whatever the session did not take is kept by Keep().
  void Lend(const uint8_t* data, size_t len) {
    lent_ = data;
    lent_len_ = len;
  }
  void Keep() {
    if (lent_len_ != 0) kept_.insert(kept_.end(), lent_, lent_ + lent_len_);
    lent_ = nullptr;
    lent_len_ = 0;
  }
  void SetEnded(int error) {
    ended_ = true;
    error_ = error;
  }
  bool HasData() const { return lent_len_ != 0 || kept_offset_ < kept_.size(); }
  // Only the end is left to read (EOF or the stream's error).
  bool AtEnd() const { return ended_ && !HasData(); }
  bool HasInput() const { return HasData() || ended_; }

  IoResult Read(uint8_t* buf, size_t len) override {
    if (kept_offset_ < kept_.size()) {
      size_t n = std::min(len, kept_.size() - kept_offset_);
      std::memcpy(buf, kept_.data() + kept_offset_, n);
      kept_offset_ += n;
      if (kept_offset_ == kept_.size()) {
        kept_ = {};
        kept_offset_ = 0;
      }
      return {IoStatus::kOk, n, 0};
    }
    if (lent_len_ != 0) {
      size_t n = std::min(len, lent_len_);
      std::memcpy(buf, lent_, n);
      lent_ += n;
      lent_len_ -= n;
      return {IoStatus::kOk, n, 0};
    }
    if (!ended_) return {IoStatus::kWouldBlock, 0, 0};
    if (error_ != 0) return {IoStatus::kError, 0, error_};
    return {IoStatus::kEof, 0, 0};
  }

  // Takes what fits under the high-water mark, as a socket takes what fits in its buffer: a partial write leaves
  // the rest in the session's backlog. Once full, it takes nothing until the stream has written half of what it
  // holds (as a socket becomes writable again only with room to spare), so a message's last bytes are not left
  // behind alone.
  IoResult WriteV(const struct iovec* slices, size_t n) override {
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) total += slices[i].iov_len;
    if (total == 0) return {IoStatus::kOk, 0, 0};
    if (write_error_ != 0) return {IoStatus::kError, 0, write_error_};
    if (full_) return {IoStatus::kWouldBlock, 0, 0};
    size_t room = high_water_ > Pending() ? high_water_ - Pending() : 0;
    size_t taken = 0;
    for (size_t i = 0; i < n && taken < room; ++i) {
      const uint8_t* p = static_cast<const uint8_t*>(slices[i].iov_base);
      size_t m = std::min(slices[i].iov_len, room - taken);
      out_.insert(out_.end(), p, p + m);
      taken += m;
    }
    if (taken < total) full_ = true;
    if (taken == 0) return {IoStatus::kWouldBlock, 0, 0};
    return {IoStatus::kOk, taken, 0};
  }

  // Output: what this event produced, for one write to the stream. The host calls Written() as the stream's write
  // callbacks report each write done, in order.
  bool HasOutput() const { return !out_.empty(); }
  std::vector<uint8_t>& output() { return out_; }
  void Sent(size_t len) {
    in_stream_ += len;
    sent_lengths_.push_back(len);
  }
  bool Blocked() const { return full_; }
  // True when writes were blocked and no longer are.
  bool Written() {
    if (sent_head_ < sent_lengths_.size()) in_stream_ -= sent_lengths_[sent_head_++];
    if (sent_head_ == sent_lengths_.size()) {
      sent_lengths_.clear();
      sent_head_ = 0;
    }
    if (!full_ || Pending() > high_water_ / 2) return false;
    full_ = false;
    return true;
  }
  void SetWriteError(int error) { write_error_ = error; }
  size_t Pending() const override { return in_stream_ + out_.size(); }

 private:
  const size_t high_water_;
  const uint8_t* lent_ = nullptr;
  size_t lent_len_ = 0;
  std::vector<uint8_t> kept_;
  size_t kept_offset_ = 0;
  bool ended_ = false;
  int error_ = 0;
  int write_error_ = 0;
  bool full_ = false;  // a write was refused or cut short: nothing more until half the high-water mark is free
  std::vector<uint8_t> out_;
  size_t in_stream_ = 0;  // bytes handed to the stream whose write callback has not run
  std::vector<size_t> sent_lengths_;
  size_t sent_head_ = 0;
};

}  // namespace wslay_node
