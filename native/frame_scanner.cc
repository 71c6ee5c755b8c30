#include "frame_scanner.h"

#include <algorithm>
#include <cstring>

namespace wslay_node {

bool ParseFrameHeader(const uint8_t* p, size_t avail, FrameHeader* h) {
  if (avail < 2) return false;
  const uint8_t len7 = p[1] & 0x7f;
  h->masked = (p[1] & 0x80) != 0;
  const size_t length_bytes = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  h->size = static_cast<uint8_t>(2 + length_bytes + (h->masked ? 4 : 0));
  h->length_known = avail >= 2 + length_bytes;
  if (!h->length_known) return false;
  h->fin = (p[0] & 0x80) != 0;
  h->rsv = (p[0] >> 4) & 7;
  h->opcode = p[0] & 0x0f;
  uint64_t length = len7;
  if (length_bytes) {
    length = 0;
    for (size_t i = 0; i < length_bytes; ++i) length = length << 8 | p[2 + i];
  }
  h->length = length;
  // wslay's frame layer fails these (a code-less close and -400): never taken fast.
  h->minimal = len7 == 126 ? length >= 126 : len7 == 127 ? (length >= 65536 && (length >> 63) == 0) : true;
  if (avail < h->size) return false;
  if (h->masked) std::memcpy(h->mask, p + 2 + length_bytes, 4);
  return true;
}

void Unmask(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t key[4], uint64_t offset) {
  // The key rotated to this offset, repeated over eight bytes: byte j of the word goes with payload byte
  // offset + j. Loads and stores go through memcpy, so no pointer is read at an alignment it does not have.
  uint8_t pattern[8];
  for (size_t j = 0; j < 8; ++j) pattern[j] = key[(offset + j) & 3];
  uint64_t word_key;
  std::memcpy(&word_key, pattern, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, src + i, 8);
    w ^= word_key;
    std::memcpy(dst + i, &w, 8);
  }
  for (; i < n; ++i) dst[i] = src[i] ^ pattern[i & 7];
}

FrameScanner::Next FrameScanner::Look(const uint8_t* p, size_t avail, bool new_fast_ok) const {
  if (state_ == State::kPlainPayload) {
    return {Piece::kPlain, static_cast<size_t>(std::min<uint64_t>(plain_left_, avail)), false};
  }
  if (state_ == State::kFastPayload) {
    if (fast_left() == 0) return {Piece::kFastEnd, 0, false};
    return {Piece::kFastPayload, static_cast<size_t>(std::min<uint64_t>(fast_left(), avail)), false};
  }
  FrameHeader h;
  if (state_ == State::kPlainHeader) {  // the rest of a header wslay has in part, and the payload after it
    uint8_t joined[14];
    std::memcpy(joined, header_, header_len_);
    size_t more = std::min<size_t>(sizeof joined - header_len_, avail);
    std::memcpy(joined + header_len_, p, more);
    if (!ParseFrameHeader(joined, header_len_ + more, &h)) return {Piece::kPlain, avail, false};
    size_t rest = h.size - header_len_;
    return {Piece::kPlain, rest + static_cast<size_t>(std::min<uint64_t>(h.length, avail - rest)), false};
  }
  if (!ParseFrameHeader(p, avail, &h)) {
    // Control frames wait until they are here whole (as FrameCursor::Take has them). A data frame's header is
    // judged by wslay from its length on: until the length is here nothing is decided; a header that would be
    // fast waits for its masking key; any other goes to wslay in part, as it would on the plain path.
    if (avail == 0 || (p[0] & 0x08) || !h.length_known) return {Piece::kWait, 0, false};
    if (h.minimal && AcceptedAsIs(h) && (h.opcode == 0 ? message_fast_ : new_fast_ok)) return {Piece::kWait, 0, false};
    return {Piece::kPlain, avail, false};
  }
  const size_t payload_here = static_cast<size_t>(std::min<uint64_t>(h.length, avail - h.size));
  if (h.opcode & 0x08) {
    // A control frame that can be valid goes to wslay whole; one declaring more than 125 bytes wslay fails itself.
    if (h.length <= 125) {
      if (payload_here < h.length) return {Piece::kWait, 0, false};
      return {Piece::kPlain, h.size + payload_here, true};
    }
    return {Piece::kPlain, h.size + payload_here, false};
  }
  const bool fast = AcceptedAsIs(h) && (h.opcode == 0 ? message_fast_ : new_fast_ok);
  if (fast) return {Piece::kFastStart, h.size, false};
  return {Piece::kPlain, h.size + payload_here, false};
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

const FrameHeader& FrameScanner::StartFast(const uint8_t* p) {
  ParseFrameHeader(p, 14, &fast_);  // Look saw the whole header
  fast_done_ = 0;
  Follow(fast_, true);
  state_ = State::kFastPayload;
  return fast_;
}

void FrameScanner::UnmaskPayload(uint8_t* dst, const uint8_t* src, size_t n) {
  Unmask(dst, src, n, fast_.mask, fast_done_);
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
