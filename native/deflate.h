// permessage-deflate (RFC 7692) message codec over zlib, independent of Node: one compressor for the messages we
// send and one decompressor for the messages we receive, each owned by one connection and used from its thread.
//
// zlib state is created on first use and, when the direction has no context takeover, freed after every message,
// so an idle connection in that mode holds no zlib memory. All zlib allocations go through a counting allocator
// (ZlibBytesInUse) so tests and docs can report real figures.
#ifndef WSLAY_NODE_DEFLATE_H_
#define WSLAY_NODE_DEFLATE_H_

#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wslay_node {

// The negotiated configuration seen from our side of the connection.
struct DeflateParams {
  int compressWindowBits = 15;    // window for what WE send (8..15; 8 = stored blocks only, see deflate.cc)
  int decompressWindowBits = 15;  // window the PEER compresses with (8..15; 8 inflates with 9, see deflate.cc)
  bool compressNoContextTakeover = false;    // reset our compressor after every message
  bool decompressNoContextTakeover = false;  // the peer resets its compressor after every message
  int level = -1;  // Z_DEFAULT_COMPRESSION, or 0..9
  int memLevel = 8;  // 1..9
};

// Bytes currently allocated by zlib for every codec in the process (all threads).
size_t ZlibBytesInUse();

// Compresses outgoing messages, one chunk at a time. Owns its z_stream; not copyable.
class MessageCompressor {
 public:
  explicit MessageCompressor(const DeflateParams& params);
  ~MessageCompressor();
  MessageCompressor(const MessageCompressor&) = delete;
  MessageCompressor& operator=(const MessageCompressor&) = delete;

  // Compresses one chunk of a message and appends the output to *out (a chunk may produce no output). On fin the
  // message is flushed and its trailing 00 00 ff ff removed (RFC 7692 §7.2.1); an empty message yields 00.
  // Returns false on a zlib failure (bad params, out of memory): *out is restored to its size on entry, the
  // zlib state is freed and the message must be abandoned (the connection cannot continue with context takeover).
  bool Compress(const uint8_t* data, size_t len, bool fin, std::vector<uint8_t>* out);

  // True while zlib state is allocated (for tests of the lazy/free-after-message behaviour).
  bool HasState() const { return initialized_; }

 private:
  bool Init();
  void Release();

  DeflateParams params_;
  z_stream strm_;
  bool initialized_ = false;
  uint64_t messageIn_ = 0;  // input bytes of the message in progress
};

// Decompresses incoming messages, one chunk (frame payload) at a time. Owns its z_stream; not copyable.
class MessageDecompressor {
 public:
  enum class Result { kOk, kTooBig, kError };

  explicit MessageDecompressor(const DeflateParams& params);
  ~MessageDecompressor();
  MessageDecompressor(const MessageDecompressor&) = delete;
  MessageDecompressor& operator=(const MessageDecompressor&) = delete;

  // Inflates one chunk of a compressed message and appends the output to *out. On fin, 00 00 ff ff is appended
  // after the data (RFC 7692 §7.2.2) and the message must then end on a block boundary. The total inflated size of
  // the message (counted across chunks, reset on fin) never exceeds maxMessageSize: kTooBig is returned as soon as
  // one more byte would be produced, so a deflate bomb costs at most maxMessageSize bytes of output.
  // kTooBig and kError restore *out to its size on entry and free the zlib state; the connection must be failed
  // (1009 / 1007-or-1002), since the peer's stream can no longer be followed.
  Result Decompress(const uint8_t* data, size_t len, bool fin, uint64_t maxMessageSize,
                    std::vector<uint8_t>* out);

  bool HasState() const { return initialized_; }

 private:
  bool Init();
  bool RestartStream();
  void Release();
  Result Fail(Result result, std::vector<uint8_t>* out, size_t outSizeOnEntry);

  DeflateParams params_;
  z_stream strm_;
  bool initialized_ = false;
  bool atBlockBoundary_ = true;  // the inflater waits for a new block header, no bits pending
  bool streamEnded_ = false;     // the peer ended its deflate stream (a BFINAL block)
  uint64_t messageOut_ = 0;      // inflated bytes of the message in progress
};

}  // namespace wslay_node

#endif  // WSLAY_NODE_DEFLATE_H_
