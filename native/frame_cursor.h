// Follows the frame boundaries of a WebSocket byte stream (RFC 6455 §5.2) without keeping any payload: bytes go in,
// in order and in pieces of any size. It reads frame headers only (payloads are skipped), so it costs a few
// instructions per frame. The session keeps two:
//   - on what it hands wslay (Take): where to cut so that a control frame always reaches wslay in one recv, since
//     wslay 1.1.1 checks a close reason's UTF-8 from offset 2 of every chunk (a split close frame with a valid
//     reason would be answered 1007); on a client, the same cursor then follows what is skipped after wslay has
//     stopped reading (Feed), to find the server's close;
//   - on what wslay sends (Feed), to see its automatic pongs leave.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace wslay_node {

class FrameCursor {
 public:
  // Calls on_frame(opcode) for every frame that ends within these bytes.
  template <typename OnFrame>
  void Feed(const uint8_t* data, size_t len, OnFrame on_frame) {
    while (len > 0) {
      if (payload_left_ > 0) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(len, payload_left_));
        data += n;
        len -= n;
        payload_left_ -= n;
        if (payload_left_ == 0) on_frame(opcode_);
        continue;
      }
      header_[header_len_++] = *data++;
      --len;
      if (header_len_ < HeaderSize()) continue;
      StartPayload();
      if (payload_left_ == 0) on_frame(opcode_);
    }
  }

  // Between frames: no header or payload is partly through.
  bool AtBoundary() const { return header_len_ == 0 && payload_left_ == 0; }

  // Of the `len` bytes at `p`, how many to hand on: all of them, or the bytes before a control frame that does not
  // end within them (its header and payload are then not consumed). 0 means a control frame starts at `p` and is
  // not complete: wait for more. With `may_cut` false all `len` bytes are taken whatever they end in.
  size_t Take(const uint8_t* p, size_t len, bool may_cut = true) {
    size_t pos = 0;
    for (;;) {
      uint64_t skip = std::min<uint64_t>(payload_left_, len - pos);
      pos += static_cast<size_t>(skip);
      payload_left_ -= skip;
      if (pos == len) return len;
      // A header starts at pos, or continues there (a data frame's header split across two calls).
      const size_t start = pos;
      const bool started_here = header_len_ == 0;
      while (header_len_ < HeaderSize()) {
        if (pos == len) {
          if (may_cut && started_here && IsControl()) {  // never split a control frame's header
            header_len_ = 0;
            return start;
          }
          return len;
        }
        header_[header_len_++] = p[pos++];
      }
      // Anything declaring more than 125 bytes is not a valid control frame: wslay reports that itself.
      if (may_cut && IsControl() && PayloadLength() <= 125 && len - pos < PayloadLength()) {
        header_len_ = 0;
        return start;
      }
      StartPayload();
    }
  }

 private:
  bool IsControl() const { return header_len_ > 0 && (header_[0] & 0x08) != 0; }
  // The header's full size, as far as its first two bytes tell (2 until they are here).
  size_t HeaderSize() const {
    if (header_len_ < 2) return 2;
    uint8_t len7 = header_[1] & 0x7f;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
  }
  uint64_t PayloadLength() const {
    uint8_t len7 = header_[1] & 0x7f;
    if (len7 < 126) return len7;
    uint64_t v = 0;
    for (size_t i = 0, n = len7 == 126 ? 2 : 8; i < n; ++i) v = v << 8 | header_[2 + i];
    return v;
  }
  // The header is complete: its payload follows.
  void StartPayload() {
    opcode_ = header_[0] & 0x0f;
    payload_left_ = PayloadLength();
    header_len_ = 0;
  }

  uint8_t header_[14];        // the next frame's header, as far as it has gone by
  uint8_t header_len_ = 0;
  uint8_t opcode_ = 0;        // of the frame whose payload is going by
  uint64_t payload_left_ = 0;
};

}  // namespace wslay_node
