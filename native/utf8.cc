#include "utf8.h"

#include <cstring>

namespace wslay_node {

bool Utf8Validator::Feed(const uint8_t* p, size_t len) {
  if (failed_) return false;
  const uint8_t* end = p + len;
  while (p < end) {
    if (pending_ == 0) {
      // Text is mostly ASCII: skip 8 bytes at a time while no high bit is set.
      while (end - p >= 8) {
        uint64_t word;
        std::memcpy(&word, p, 8);
        if (word & 0x8080808080808080ULL) break;
        p += 8;
      }
      if (p == end) break;
      uint8_t b = *p++;
      if (b < 0x80) continue;
      lo_ = 0x80;
      hi_ = 0xBF;
      if (b >= 0xC2 && b <= 0xDF) {
        pending_ = 1;
      } else if (b >= 0xE0 && b <= 0xEF) {
        pending_ = 2;
        if (b == 0xE0) lo_ = 0xA0;       // overlong
        else if (b == 0xED) hi_ = 0x9F;  // surrogates
      } else if (b >= 0xF0 && b <= 0xF4) {
        pending_ = 3;
        if (b == 0xF0) lo_ = 0x90;       // overlong
        else if (b == 0xF4) hi_ = 0x8F;  // above U+10FFFF
      } else {
        failed_ = true;
        return false;
      }
    } else {
      uint8_t b = *p++;
      if (b < lo_ || b > hi_) {
        failed_ = true;
        return false;
      }
      lo_ = 0x80;
      hi_ = 0xBF;
      --pending_;
    }
  }
  return true;
}

bool IsValidUtf8(const uint8_t* data, size_t len) {
  Utf8Validator v;
  return v.Feed(data, len) && v.Complete();
}

}  // namespace wslay_node
