// RFC 6455 §5.3 masking, which is its own inverse: the receive scanner unmasks with it, the frame writer masks a
// client's frames with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace wslay_node {

// dst[i] = src[i] ^ key[(offset + i) % 4], eight bytes at a time; dst may be src.
inline void XorMask(uint8_t* dst, const uint8_t* src, size_t n, const uint8_t key[4], uint64_t offset = 0) {
  // The key rotated to this offset, repeated over eight bytes: byte j of the word goes with payload byte
  // offset + j. Loads and stores go through memcpy, so no pointer is read at an alignment it does not have.
  uint8_t pattern[8];
  for (size_t j = 0; j < 4; ++j) pattern[j] = pattern[j + 4] = key[(offset + j) & 3];
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

}  // namespace wslay_node
