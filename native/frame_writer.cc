#include "frame_writer.h"

#include <cstring>
#include <new>

#include "transport.h"

namespace wslay_node {

size_t WriteFrameHeader(uint8_t* out, uint8_t rsv, uint8_t opcode, uint64_t payload_len, const uint8_t* mask) {
  out[0] = static_cast<uint8_t>(0x80 | (rsv & 0x07) << 4 | (opcode & 0x0f));
  uint8_t mask_bit = mask != nullptr ? 0x80 : 0;
  size_t n;
  if (payload_len < 126) {  // the shortest encoding, as RFC 6455 §5.2 requires
    out[1] = static_cast<uint8_t>(mask_bit | payload_len);
    n = 2;
  } else if (payload_len <= 0xffff) {
    out[1] = mask_bit | 126;
    out[2] = static_cast<uint8_t>(payload_len >> 8);
    out[3] = static_cast<uint8_t>(payload_len);
    n = 4;
  } else {
    out[1] = mask_bit | 127;
    for (int i = 0; i < 8; ++i) out[2 + i] = static_cast<uint8_t>(payload_len >> (56 - 8 * i));
    n = 10;
  }
  if (mask != nullptr) {
    std::memcpy(out + n, mask, 4);
    n += 4;
  }
  return n;
}

std::shared_ptr<const SharedFrame> SharedFrame::Make(uint8_t opcode, uint8_t rsv, const uint8_t* data, size_t len) {
  try {
    auto frame = std::make_shared<SharedFrame>();
    frame->opcode = opcode;
    frame->rsv = rsv;
    uint8_t header[kMaxFrameHeader];
    frame->header_len = WriteFrameHeader(header, rsv, opcode, len, nullptr);
    frame->bytes.resize(frame->header_len + len);
    std::memcpy(frame->bytes.data(), header, frame->header_len);
    if (len) std::memcpy(frame->bytes.data() + frame->header_len, data, len);
    return frame;
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void OutputQueue::Append(const uint8_t* data, size_t len, bool frame) {
  if (len) std::memcpy(Extend(len), data, len);
  if (frame) EndFrame();
}

uint8_t* OutputQueue::Extend(size_t len) {
  // Own bytes join the last chunk when it is our own (its offset still marks where writing stands).
  if (head_ == chunks_.size() || chunks_.back().shared) chunks_.emplace_back();
  std::vector<uint8_t>& own = chunks_.back().own;
  size_t at = own.size();
  own.resize(at + len);
  appended_ += len;
  return own.data() + at;
}

void OutputQueue::AppendShared(std::shared_ptr<const SharedFrame> frame) {
  size_t len = frame->bytes.size();
  chunks_.emplace_back();
  chunks_.back().shared = std::move(frame);
  appended_ += len;
  EndFrame();
}

IoResult OutputQueue::Flush(Transport* transport) {
  constexpr size_t kMaxSlices = 64;
  struct iovec slices[kMaxSlices];
  size_t n = 0;
  for (size_t i = head_; i < chunks_.size() && n < kMaxSlices; ++i) {
    const Chunk& c = chunks_[i];
    if (c.size() == c.offset) continue;
    slices[n++] = {const_cast<uint8_t*>(c.data() + c.offset), c.size() - c.offset};
  }
  if (n == 0) return {IoStatus::kOk, 0, 0};
  IoResult r = transport->WriteV(slices, n);
  if (r.status == IoStatus::kOk) Consumed(r.bytes);
  return r;
}

void OutputQueue::Consumed(size_t n) {
  written_ += n;
  while (n > 0 && head_ < chunks_.size()) {
    Chunk& c = chunks_[head_];
    size_t left = c.size() - c.offset;
    if (n < left) {
      c.offset += n;
      break;
    }
    n -= left;
    c.shared.reset();  // the shared frame's reference goes now
    c.offset = 0;
    if (head_ + 1 == chunks_.size() && c.own.capacity() <= kKeptCapacity) {
      c.own.clear();  // the last chunk: a small buffer is kept for the next stall
      break;
    }
    c.own = {};
    ++head_;
  }
  while (frame_head_ < frame_ends_.size() && frame_ends_[frame_head_] <= written_) ++frame_head_;
  if (head_ > 0 && (empty() || (head_ > 16 && head_ * 2 > chunks_.size()))) {
    chunks_.erase(chunks_.begin(), chunks_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  if (frame_head_ == frame_ends_.size()) {
    frame_ends_.clear();
    frame_head_ = 0;
  }
}

void OutputQueue::Clear() {
  chunks_ = {};
  head_ = 0;
  written_ = appended_;
  frame_ends_ = {};
  frame_head_ = 0;
}

}  // namespace wslay_node
