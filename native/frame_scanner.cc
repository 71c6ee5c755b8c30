#include "frame_scanner.h"

#include <algorithm>
#include <cstring>

namespace wslay_node {

FrameScanner::Next FrameScanner::Look(const uint8_t* p, size_t avail, bool new_fast_ok) const {
  if (state_ == State::kPlainPayload) {
    return {Piece::kPlain, static_cast<size_t>(std::min<uint64_t>(plain_left_, avail)), false, false};
  }
  if (state_ == State::kFastPayload) {
    if (fast_left() == 0) return {Piece::kFastEnd, 0, false, false};
    return {Piece::kFastPayload, static_cast<size_t>(std::min<uint64_t>(fast_left(), avail)), false, false};
  }
  FrameHeader h;
  if (state_ == State::kPlainHeader) {  // the rest of a header wslay has in part, and the payload after it
    uint8_t joined[14];
    std::memcpy(joined, header_, header_len_);
    size_t more = std::min<size_t>(sizeof joined - header_len_, avail);
    std::memcpy(joined + header_len_, p, more);
    if (!ParseFrameHeader(joined, header_len_ + more, &h)) return {Piece::kPlain, avail, false, false};
    size_t rest = h.size - header_len_;
    return {Piece::kPlain, rest + static_cast<size_t>(std::min<uint64_t>(h.length, avail - rest)), false, false};
  }
  if (!ParseFrameHeader(p, avail, &h)) {
    // Control frames wait until they are here whole (as FrameCursor::Take has them). A data frame that cannot be
    // fast goes to wslay in part, as on the plain path (its frame callbacks then see the same chunks). One that may
    // be fast waits: until its length is here wslay would decide nothing, and then, if it is fast, for its masking
    // key; a header that turns out not to be fast goes to wslay in part.
    if (avail == 0 || (p[0] & 0x08)) return {Piece::kWait, 0, false, false};
    const bool asked = (p[0] & 0x0f) != 0;
    if (!MayBeFast(p[0], new_fast_ok)) return {Piece::kPlain, avail, false, false};
    if (!h.length_known || (h.minimal && AcceptedAsIs(h))) return {Piece::kWait, 0, false, asked};
    return {Piece::kPlain, avail, false, false};
  }
  const size_t payload_here = static_cast<size_t>(std::min<uint64_t>(h.length, avail - h.size));
  if (h.opcode & 0x08) {
    // A control frame that can be valid goes to wslay whole; one declaring more than 125 bytes wslay fails itself.
    if (h.length <= 125) {
      if (payload_here < h.length) return {Piece::kWait, 0, false, false};
      return {Piece::kPlain, h.size + payload_here, true, false};
    }
    return {Piece::kPlain, h.size + payload_here, false, false};
  }
  const bool asked = h.opcode != 0;
  const bool fast = AcceptedAsIs(h) && (h.opcode == 0 ? message_fast_ : new_fast_ok);
  if (fast) {
    looked_ = h;
    return {Piece::kFastStart, h.size, false, asked};
  }
  return {Piece::kPlain, h.size + payload_here, false, false};
}

bool FrameScanner::MayBeFast(uint8_t first_byte, bool new_fast_ok) const {
  const uint8_t opcode = first_byte & 0x0f, rsv = (first_byte >> 4) & 7;
  if (opcode == 0) return in_message_ && message_fast_ && rsv == 0;
  if (opcode != 1 && opcode != 2) return false;
  return new_fast_ok && !in_message_ && (rsv == 0 || (rsv == 4 && compressed_ok_));
}

bool FrameScanner::AcceptedAsIs(const FrameHeader& h) const {
  // What wslay 1.1.1 checks on a data frame's header, in its order: the length encoding (frame layer), RSV bits
  // and the mask bit for a server, the opcode against the message in progress, the declared length against
  // max_recv_msg_length (set to maxRecvSize; per frame, since wslay runs without buffering).
  if (!h.minimal || !h.masked) return false;
  if (h.opcode == 1 || h.opcode == 2) {
    if (in_message_) return false;  // a new message inside one: 1002
    if (h.rsv != 0 && !(h.rsv == 4 && compressed_ok_)) return false;
  } else if (h.opcode == 0) {
    if (!in_message_ || h.rsv != 0) return false;  // nothing to continue, or RSV1 on a continuation: 1002
  } else {
    return false;  // reserved opcodes: 1002
  }
  return h.length <= max_frame_length_;  // else 1009
}

void FrameScanner::Follow(const FrameHeader& h, bool fast) {
  // Frames wslay fails end the reading; what they would do to the state does not matter.
  if (h.opcode == 1 || h.opcode == 2) {
    if (in_message_) return;
    in_message_ = !h.fin;
    message_fast_ = fast;
  } else if (h.opcode == 0 && in_message_ && h.fin) {
    in_message_ = false;
  }
}

void FrameScanner::TakePlain(const uint8_t* p, size_t n) {
  while (n > 0) {
    if (state_ == State::kPlainPayload) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, plain_left_));
      p += take;
      n -= take;
      plain_left_ -= take;
      if (plain_left_ == 0) state_ = State::kBoundary;
      continue;
    }
    // A header, whole or in part: gathered until it is complete, then followed.
    FrameHeader h;
    header_[header_len_++] = *p++;
    --n;
    state_ = State::kPlainHeader;
    if (!ParseFrameHeader(header_, header_len_, &h)) continue;
    header_len_ = 0;
    Follow(h, false);
    plain_left_ = h.length;
    state_ = plain_left_ > 0 ? State::kPlainPayload : State::kBoundary;
  }
}

const FrameHeader& FrameScanner::StartFast() {
  fast_ = looked_;
  fast_done_ = 0;
  Follow(fast_, true);
  state_ = State::kFastPayload;
  return fast_;
}

void FrameScanner::UnmaskPayload(uint8_t* dst, const uint8_t* src, size_t n) {
  XorMask(dst, src, n, fast_.mask, fast_done_);
  fast_done_ += n;
}

size_t FrameScanner::EndFast(uint8_t* out) {
  out[0] = static_cast<uint8_t>((fast_.fin ? 0x80 : 0) | fast_.rsv << 4 | fast_.opcode);
  out[1] = 0x80;  // masked, length 0
  std::memcpy(out + 2, fast_.mask, 4);
  state_ = State::kBoundary;
  return 6;
}

}  // namespace wslay_node
