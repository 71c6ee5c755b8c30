// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
// wslay validates plain text messages itself; we need this for what it does not check: close reasons split across
// reads, inflated (RSV1) text, and outgoing close reasons.
#pragma once

#include <cstddef>
#include <cstdint>

namespace wslay_node {

class Utf8Validator {
 public:
  // Feeds the next bytes of one message. Returns false from the first invalid byte on (the failure is sticky).
  bool Feed(const uint8_t* data, size_t len);
  // True when everything fed so far is valid and no multi-byte sequence is left open.
  bool Complete() const { return !failed_ && pending_ == 0; }
  void Reset() { pending_ = 0; lo_ = 0x80; hi_ = 0xBF; failed_ = false; }

 private:
  uint8_t pending_ = 0;  // continuation bytes still expected
  uint8_t lo_ = 0x80;    // allowed range of the next continuation byte
  uint8_t hi_ = 0xBF;
  bool failed_ = false;
};

// Whole-buffer check.
bool IsValidUtf8(const uint8_t* data, size_t len);

}  // namespace wslay_node
