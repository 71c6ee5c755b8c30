// The receive fast path's frame scanner (server sessions only). It follows the peer's frames in the bytes read,
// before wslay sees them, and sorts each frame into one of two kinds:
//   - a data frame that wslay 1.1.1 is sure to accept as it stands (masked, minimal length encoding, RSV only
//     RSV1 on the first frame of a compressed message, an opcode that fits the fragmentation state, a declared
//     length within maxRecvSize) is "fast": the session takes its payload itself, unmasked word-wide in one pass
//     (UnmaskPayload), and wslay gets the same header rewritten as a zero-length masked frame (EndFast), so wslay
//     still checks the header, follows the fragmentation, and calls its frame and message callbacks;
//   - everything else (control frames, frames of a message that began plain, anything wslay would have to judge)
//     goes to wslay untouched. A control frame is handed whole (see frame_cursor.h for why).
// A message is fast or plain as a whole: a text message's UTF-8 is then checked by one side only (wslay keeps its
// own state across the fragments it sees). The scanner mirrors wslay's fragmentation state from every header,
// plain or fast. No payload is kept here; no Node and no libuv.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "mask.h"

namespace wslay_node {

struct FrameHeader {
  bool fin = false;
  uint8_t rsv = 0;     // wslay's numbering: RSV1 = 4
  uint8_t opcode = 0;
  bool masked = false;
  uint8_t mask[4] = {0, 0, 0, 0};
  uint64_t length = 0;
  uint8_t size = 0;    // of the header itself, 2 to 14 bytes
  bool minimal = true;  // the length has its shortest encoding and no 64-bit MSB (wslay fails the frame otherwise)
  bool length_known = false;  // all but the masking key is here (set also when the header is incomplete)
};

// Parses the header at `p`; false while fewer than its bytes are there (`length_known` then says whether all
// but the masking key is). Inline: it runs once per frame.
inline bool ParseFrameHeader(const uint8_t* p, size_t avail, FrameHeader* h) {
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

class FrameScanner {
 public:
  // `compressed_ok`: permessage-deflate was negotiated (RSV1 on a message's first frame is then fine).
  FrameScanner(bool compressed_ok, uint64_t max_frame_length)
      : compressed_ok_(compressed_ok), max_frame_length_(max_frame_length) {}

  enum class Piece {
    kWait,         // an incomplete header, or a control frame not here whole: nothing to hand yet
    kPlain,        // `len` bytes for wslay as they are
    kFastStart,    // a fast frame's header (`len` bytes): StartFast
    kFastPayload,  // `len` bytes of its payload: UnmaskPayload
    kFastEnd,      // its payload is complete: EndFast
  };
  struct Next {
    Piece piece;
    size_t len;
    bool whole_control;   // kPlain: a whole control frame, not to be cut
    bool asked_new_fast;  // the answer took new_fast_ok into account (a new message begins here)
  };

  // What the `avail` bytes at `p` begin with; consumes nothing. `new_fast_ok`: a message that begins here may be
  // fast (the session has no frame callbacks to feed and buffers messages); the session asks with true first and
  // finds out only when `asked_new_fast` says it mattered.
  Next Look(const uint8_t* p, size_t avail, bool new_fast_ok) const;

  // Consuming what Look said.
  void TakePlain(const uint8_t* p, size_t n);
  const FrameHeader& StartFast();  // the header the last Look found fast
  void UnmaskPayload(uint8_t* dst, const uint8_t* src, size_t n);
  // Writes the zero-length header (at most 6 bytes) for wslay; returns its size.
  size_t EndFast(uint8_t* out);

  const FrameHeader& fast_frame() const { return fast_; }
  uint64_t fast_left() const { return fast_.length - fast_done_; }

 private:
  enum class State { kBoundary, kPlainHeader, kPlainPayload, kFastPayload };
  // Whether a data frame beginning with this byte can be fast at all (its opcode, RSV and the message state).
  bool MayBeFast(uint8_t first_byte, bool new_fast_ok) const;
  // Whether wslay accepts this data frame's header as it stands, given the fragmentation state.
  bool AcceptedAsIs(const FrameHeader& h) const;
  // Follows wslay's fragmentation state past a header it will see.
  void Follow(const FrameHeader& h, bool fast);

  const bool compressed_ok_;
  const uint64_t max_frame_length_;
  State state_ = State::kBoundary;
  uint8_t header_[14];           // a plain data frame's header handed to wslay in parts (as wslay takes them)
  uint8_t header_len_ = 0;
  uint64_t plain_left_ = 0;      // payload bytes of the plain frame going by
  mutable FrameHeader looked_;   // the fast header the last Look found (a cache: Look consumes nothing)
  FrameHeader fast_;             // the fast frame being taken
  uint64_t fast_done_ = 0;       // of its payload, bytes unmasked so far
  bool in_message_ = false;      // a data message has begun and not ended (wslay's own state)
  bool message_fast_ = false;    // and it is on the fast path
};

}  // namespace wslay_node
