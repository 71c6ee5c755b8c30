// Frame boundaries in the bytes handed to wslay, so a control frame always reaches wslay in one recv: wslay 1.1.1
// checks a close reason's UTF-8 from offset 2 of every chunk, so a close frame split across two recv calls gets a
// valid reason answered with 1007. The tracker follows frame headers only (payload is skipped), so it costs a few
// instructions per frame, and tells OnRecv where to cut: just before a control frame that would not fit whole.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wslay_node {

class FrameBoundary {
 public:
  // Largest frame worth keeping whole: 2 header bytes, a 4-byte mask, 125 bytes of payload. Anything declaring
  // more is a protocol error wslay reports itself.
  static constexpr size_t kMaxControlFrame = 2 + 4 + 125;

  // Of the `len` bytes at `p`, the next ones to hand to wslay: all of them, or the bytes before a control frame
  // that does not end within them. 0 means a control frame starts at `p` and is not complete: wait for more.
  // `may_cut` false takes all `len` bytes whatever they end in.
  size_t Take(const uint8_t* p, size_t len, bool may_cut = true) {
    size_t pos = 0;
    for (;;) {
      uint64_t skip = payload_left_ < len - pos ? payload_left_ : len - pos;
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
      const uint64_t payload = PayloadLength();
      const bool control = IsControl();
      header_len_ = 0;
      if (may_cut && control && payload <= 125 && len - pos < payload) return start;
      payload_left_ = payload;
    }
  }

 private:
  bool IsControl() const { return header_len_ > 0 && (header_[0] & 0x08) != 0; }
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

  uint64_t payload_left_ = 0;  // payload bytes of the current frame not yet handed to wslay
  uint8_t header_[14];         // the next frame's header, as far as it has been handed
  uint8_t header_len_ = 0;
};

}  // namespace wslay_node
