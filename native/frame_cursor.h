// Follows the frame boundaries of a WebSocket byte stream (RFC 6455 §5.2) without keeping any payload: bytes go in,
// in order and in pieces of any size, and it says each time a whole frame has gone by, with its opcode. The session
// uses one on what wslay sends (to see its pongs leave) and, on a client, one on what it hands wslay (to find the
// server's close after wslay has stopped reading).
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
      if (header_len_ < 2) continue;
      uint8_t len7 = header_[1] & 0x7f;
      size_t extended = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
      if (header_len_ < 2 + extended + ((header_[1] & 0x80) ? 4 : 0)) continue;
      uint64_t payload = len7;
      if (extended) {
        payload = 0;
        for (size_t i = 0; i < extended; ++i) payload = payload << 8 | header_[2 + i];
      }
      opcode_ = header_[0] & 0x0f;
      header_len_ = 0;
      payload_left_ = payload;
      if (payload_left_ == 0) on_frame(opcode_);
    }
  }

 private:
  uint8_t header_[14];
  uint8_t header_len_ = 0;  // header bytes seen of the next frame
  uint8_t opcode_ = 0;      // of the frame whose payload is going by
  uint64_t payload_left_ = 0;
};

}  // namespace wslay_node
