// permessage-deflate codec over zlib. See deflate.h for the contract.
//
// Window bits 8: zlib refuses an 8-bit window for raw deflate (deflateInit2 returns Z_STREAM_ERROR since 1.2.9),
// and compressing with 9 instead may emit distances up to 512 that a peer holding a 256-byte window may reject.
// So a compress window of 8 uses window 9 at level 0: stored blocks only, no back-references, valid for any window.
// For decompression 8 becomes 9: an inflater may hold a larger window than the peer uses, and zlib-based peers
// (Node, ws) that were asked for 8 really compress with 9.
#include "deflate.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

namespace wslay_node {
namespace {

// The 4 octets RFC 7692 strips from / appends to every message: LEN/NLEN of an empty stored block.
const uint8_t kTail[4] = {0x00, 0x00, 0xff, 0xff};

// zlib counts in uInt; slice larger inputs so any size_t length works.
constexpr size_t kMaxSlice = size_t{1} << 30;
// Output is grown in steps: large enough to keep zlib calls few, small enough that a bomb check stays cheap.
constexpr size_t kMinRoom = 16 * 1024;
constexpr size_t kMaxRoom = 1024 * 1024;

std::atomic<size_t> gZlibBytes{0};

// Counting allocator: a size header in front of each block, kept max-aligned so zlib's structures stay aligned.
constexpr size_t kHeader = alignof(std::max_align_t) > sizeof(size_t) ? alignof(std::max_align_t) : sizeof(size_t);

voidpf CountingAlloc(voidpf /*opaque*/, uInt items, uInt size) {
  const size_t bytes = static_cast<size_t>(items) * static_cast<size_t>(size);  // both < 2^32: no overflow
  void* block = std::malloc(bytes + kHeader);
  if (block == nullptr) return Z_NULL;
  std::memcpy(block, &bytes, sizeof bytes);
  gZlibBytes.fetch_add(bytes, std::memory_order_relaxed);
  return static_cast<unsigned char*>(block) + kHeader;
}

void CountingFree(voidpf /*opaque*/, voidpf address) {
  if (address == Z_NULL) return;
  unsigned char* block = static_cast<unsigned char*>(address) - kHeader;
  size_t bytes;
  std::memcpy(&bytes, block, sizeof bytes);
  gZlibBytes.fetch_sub(bytes, std::memory_order_relaxed);
  std::free(block);
}

void PrepareStream(z_stream* strm) {
  std::memset(strm, 0, sizeof *strm);
  strm->zalloc = CountingAlloc;
  strm->zfree = CountingFree;
  strm->opaque = Z_NULL;
}

bool ValidWindowBits(int bits) { return bits >= 8 && bits <= 15; }

// Grows *out by `room` bytes and points the stream's output at the new space.
void ProvideOutput(z_stream* strm, std::vector<uint8_t>* out, size_t room) {
  const size_t used = out->size();
  out->resize(used + room);
  strm->next_out = out->data() + used;
  strm->avail_out = static_cast<uInt>(room);
}

// Drops the unused part of the space given by ProvideOutput.
void TrimOutput(const z_stream& strm, std::vector<uint8_t>* out) { out->resize(out->size() - strm.avail_out); }

}  // namespace

size_t ZlibBytesInUse() { return gZlibBytes.load(std::memory_order_relaxed); }

// ---------------------------------------------------------------------------------------------------------------
// MessageCompressor

MessageCompressor::MessageCompressor(const DeflateParams& params) : params_(params) { PrepareStream(&strm_); }

MessageCompressor::~MessageCompressor() { Release(); }

bool MessageCompressor::Init() {
  if (!ValidWindowBits(params_.compressWindowBits) || params_.level < -1 || params_.level > 9 ||
      params_.memLevel < 1 || params_.memLevel > 9) {
    return false;
  }
  int bits = params_.compressWindowBits;
  int level = params_.level;
  if (bits == 8) {  // see the file comment
    bits = 9;
    level = 0;
  }
  PrepareStream(&strm_);
  if (deflateInit2(&strm_, level, Z_DEFLATED, -bits, params_.memLevel, Z_DEFAULT_STRATEGY) != Z_OK) {
    deflateEnd(&strm_);  // frees whatever a partial init allocated; harmless on an unused stream
    PrepareStream(&strm_);
    return false;
  }
  initialized_ = true;
  return true;
}

void MessageCompressor::Release() {
  if (initialized_) deflateEnd(&strm_);
  initialized_ = false;
  PrepareStream(&strm_);
}

bool MessageCompressor::Compress(const uint8_t* data, size_t len, bool fin, std::vector<uint8_t>* out) {
  const size_t sizeOnEntry = out->size();
  if (len == 0 && !fin) return true;
  if (fin && len == 0 && messageIn_ == 0) {
    // An empty message is the single octet 00 (RFC 7692 §7.2.3.6). Asking zlib for it would fail right after the
    // previous message's sync flush: deflate refuses a repeated flush with no input (Z_BUF_ERROR, no output).
    out->push_back(0x00);
    if (params_.compressNoContextTakeover) Release();
    return true;
  }
  if (!initialized_ && !Init()) return false;

  const uint8_t* next = data;
  size_t remaining = len;
  // deflateBound covers even incompressible input, so most messages need a single deflate call.
  size_t room = std::min<size_t>(deflateBound(&strm_, static_cast<uLong>(std::min(len, kMaxSlice))) + 16, kMaxRoom);
  do {
    const size_t slice = std::min(remaining, kMaxSlice);
    const bool lastSlice = slice == remaining;
    const int flush = (fin && lastSlice) ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    // zlib's input pointer is not const-qualified; it never writes through it.
    strm_.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(next));
    strm_.avail_in = static_cast<uInt>(slice);
    // Until deflate returns with output space left, it may hold more output (zlib's documented loop).
    do {
      ProvideOutput(&strm_, out, room);
      const int ret = deflate(&strm_, flush);
      TrimOutput(strm_, out);
      // Z_BUF_ERROR only means "no progress possible" (e.g. the buffer was filled exactly by the last call).
      if (ret != Z_OK && ret != Z_BUF_ERROR) {
        out->resize(sizeOnEntry);
        Release();
        messageIn_ = 0;
        return false;
      }
      if (ret == Z_BUF_ERROR) break;
      room = std::min(room * 2, kMaxRoom);
    } while (strm_.avail_out == 0);
    if (strm_.avail_in != 0) {  // cannot happen with zlib's contract; never loop on it
      out->resize(sizeOnEntry);
      Release();
      messageIn_ = 0;
      return false;
    }
    next += slice;
    remaining -= slice;
  } while (remaining != 0);
  messageIn_ += len;

  if (fin) {
    // A completed Z_SYNC_FLUSH ends with an empty stored block; its LEN/NLEN are the tail to remove.
    const size_t produced = out->size() - sizeOnEntry;
    if (produced < sizeof kTail || std::memcmp(out->data() + out->size() - sizeof kTail, kTail, sizeof kTail) != 0) {
      out->resize(sizeOnEntry);
      Release();
      messageIn_ = 0;
      return false;
    }
    out->resize(out->size() - sizeof kTail);
    messageIn_ = 0;
    if (params_.compressNoContextTakeover) Release();
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// MessageDecompressor

MessageDecompressor::MessageDecompressor(const DeflateParams& params) : params_(params) { PrepareStream(&strm_); }

MessageDecompressor::~MessageDecompressor() { Release(); }

bool MessageDecompressor::Init() {
  if (!ValidWindowBits(params_.decompressWindowBits)) return false;
  const int bits = std::max(params_.decompressWindowBits, 9);  // see the file comment
  PrepareStream(&strm_);
  if (inflateInit2(&strm_, -bits) != Z_OK) {
    inflateEnd(&strm_);
    PrepareStream(&strm_);
    return false;
  }
  initialized_ = true;
  atBlockBoundary_ = true;
  streamEnded_ = false;
  return true;
}

void MessageDecompressor::Release() {
  if (initialized_) inflateEnd(&strm_);
  initialized_ = false;
  atBlockBoundary_ = true;
  streamEnded_ = false;
  PrepareStream(&strm_);
}

// After the peer ended a deflate stream with a BFINAL block, more data starts a new stream. With context takeover
// the new stream may still refer to the previous window, so it is carried over as a dictionary.
bool MessageDecompressor::RestartStream() {
  std::vector<uint8_t> window;
  if (!params_.decompressNoContextTakeover) {
    window.resize(size_t{1} << 15);
    uInt windowLen = static_cast<uInt>(window.size());
    if (inflateGetDictionary(&strm_, window.data(), &windowLen) != Z_OK) return false;
    window.resize(windowLen);
  }
  if (inflateReset(&strm_) != Z_OK) return false;
  if (!window.empty() && inflateSetDictionary(&strm_, window.data(), static_cast<uInt>(window.size())) != Z_OK) {
    return false;
  }
  streamEnded_ = false;
  atBlockBoundary_ = true;
  return true;
}

MessageDecompressor::Result MessageDecompressor::Fail(Result result, std::vector<uint8_t>* out,
                                                      size_t outSizeOnEntry) {
  out->resize(outSizeOnEntry);
  Release();
  messageOut_ = 0;
  return result;
}

MessageDecompressor::Result MessageDecompressor::Decompress(const uint8_t* data, size_t len, bool fin,
                                                            uint64_t maxMessageSize, std::vector<uint8_t>* out) {
  const size_t sizeOnEntry = out->size();
  if (len == 0 && !fin) return Result::kOk;
  if (len == 0 && !initialized_) {  // an empty final chunk with no data before: an empty message, no zlib needed
    messageOut_ = 0;
    return Result::kOk;
  }
  if (!initialized_ && !Init()) return Fail(Result::kError, out, sizeOnEntry);

  const uint8_t* next = data;
  size_t remaining = len;
  bool tailPending = fin;
  bool feedingTail = false;
  bool outputFull = false;  // the last call filled its space: zlib may hold more output for the same input
  size_t room = std::min(std::max(len * 2, kMinRoom), kMaxRoom);
  for (;;) {
    if (strm_.avail_in == 0 && !outputFull) {
      if (remaining != 0) {
        const size_t slice = std::min(remaining, kMaxSlice);
        strm_.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(next));
        strm_.avail_in = static_cast<uInt>(slice);
        next += slice;
        remaining -= slice;
        feedingTail = false;
      } else if (tailPending) {
        tailPending = false;
        // The tail closes the empty stored block whose header bits end the peer's data. If the data already ended
        // on a block boundary (an empty payload, a peer that kept the tail) or ended its stream, the tail would be
        // read as the start of a bogus block instead, so it is skipped.
        if (streamEnded_ || atBlockBoundary_) break;
        strm_.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(kTail));
        strm_.avail_in = sizeof kTail;
        feedingTail = true;
      } else {
        break;
      }
    }
    if (streamEnded_ && strm_.avail_in != 0 && !RestartStream()) return Fail(Result::kError, out, sizeOnEntry);

    // Never ask for more than one byte past the limit: producing that byte is how a bomb is detected.
    const uint64_t budget = maxMessageSize - messageOut_;  // messageOut_ <= maxMessageSize holds here
    const size_t space = budget >= room ? room : static_cast<size_t>(budget) + 1;
    // Grow geometrically, but never past what the limit allows, so a bomb cannot make the vector's capacity
    // (rather than its size) overshoot the limit.
    const size_t needed = out->size() + space;
    if (needed > out->capacity()) {
      const size_t doubled = std::max(out->capacity() * 2, needed);
      const uint64_t headroom = budget - (space - 1);  // the most this message may produce after this call
      out->reserve(headroom < doubled - needed ? needed + static_cast<size_t>(headroom) : doubled);
    }
    ProvideOutput(&strm_, out, space);
    const int ret = inflate(&strm_, Z_NO_FLUSH);
    const size_t produced = space - strm_.avail_out;
    TrimOutput(strm_, out);
    messageOut_ += produced;
    if (messageOut_ > maxMessageSize) return Fail(Result::kTooBig, out, sizeOnEntry);

    // data_type: unused bits + 64 if in the last block + 128 if at the start of a block header (zlib.h).
    atBlockBoundary_ = (strm_.data_type & 128) != 0 && (strm_.data_type & 63) == 0;
    switch (ret) {
      case Z_OK:
        outputFull = strm_.avail_out == 0;
        room = std::min(room * 2, kMaxRoom);
        break;
      case Z_STREAM_END:
        streamEnded_ = true;
        outputFull = false;
        // Only our tail may follow a final block inside the message; it belongs to no stream.
        if (feedingTail) strm_.avail_in = 0;
        break;
      case Z_BUF_ERROR:  // no progress: input exhausted and no output pending
        outputFull = false;
        if (strm_.avail_in != 0) return Fail(Result::kError, out, sizeOnEntry);
        break;
      default:  // Z_DATA_ERROR, Z_NEED_DICT, Z_MEM_ERROR, Z_STREAM_ERROR
        return Fail(Result::kError, out, sizeOnEntry);
    }
  }

  if (fin) {
    // A complete message leaves the inflater between blocks; anywhere else means the peer's data was cut short.
    if (!streamEnded_ && !atBlockBoundary_) return Fail(Result::kError, out, sizeOnEntry);
    messageOut_ = 0;
    if (params_.decompressNoContextTakeover) Release();
  }
  return Result::kOk;
}

}  // namespace wslay_node
