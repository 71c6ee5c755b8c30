// Data frames framed by the binding itself (RFC 6455 §5.2) and a session's ordered output. No Node or libuv types.
//
// wslay 1.1.1 copies every queued message into its own queue (two mallocs and a copy), then hands it back to the
// send callback in pieces. A data message queued while wslay has nothing queued or half-sent is framed here
// instead: the header is built in place, the payload copied once (masked word-wide on a client) or not at all
// (a shared frame), and the bytes go into the session's output in queue order. wslay keeps control frames and the
// closing handshake; whatever it emits is appended behind what is already in the output, so the bytes on the wire
// are always in queue order.
//
// Frame once (pub/sub): a SharedFrame is one server-side (unmasked) data frame, header and payload, built once
// and referenced by every session it goes to, held by std::shared_ptr<const SharedFrame> (never changed after
// Make(); the last output that references it frees it). Session::QueueShared(frame) is the way in; its contract:
//   - kOk: the frame was queued. On a server session on the fast path with nothing of wslay's pending, the output
//     holds a reference (no copy); otherwise the session queued the payload itself, as Queue() would: framed and
//     masked for a client, through wslay's queue on the plain path or while wslay has something queued, and
//     compressed with the session's own compressor when the frame is plain and the session would compress it.
//   - kNeedsOwnFrame: the frame is compressed (RSV1) and this session cannot send those bytes as they are (no
//     permessage-deflate, or a compressor with context takeover, whose stream must go on per connection): the
//     caller passes the uncompressed payload to Queue() instead. Nothing was queued.
//   - kBackpressure, kClosing, kInvalidRsv, kNoMemory: as from Queue() (backpressure is judged on the payload
//     length, as Queue() judges it), nothing was queued.
// A compressed shared frame must have been compressed for this session's negotiated parameters without context
// takeover (the caller groups subscribers by those parameters); only data opcodes (TEXT, BINARY) with FIN.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "mask.h"

namespace wslay_node {

class Transport;
struct IoResult;

constexpr size_t kMaxFrameHeader = 14;  // 2 + 8 (64-bit length) + 4 (masking key)

// Writes the header of one FIN frame with `payload_len` bytes into `out` (room for kMaxFrameHeader); `mask` is the
// client's 4-byte key, or null for a server's unmasked frame. Returns the header's length.
size_t WriteFrameHeader(uint8_t* out, uint8_t rsv, uint8_t opcode, uint64_t payload_len, const uint8_t* mask);

struct SharedFrame {
  uint8_t opcode;
  uint8_t rsv;                 // RSV1: the payload is compressed (permessage-deflate, no context takeover)
  std::vector<uint8_t> bytes;  // header + payload, unmasked
  size_t header_len;

  const uint8_t* payload() const { return bytes.data() + header_len; }
  size_t payload_len() const { return bytes.size() - header_len; }
  // One frame of `len` bytes at `data`; null if memory ran out.
  static std::shared_ptr<const SharedFrame> Make(uint8_t opcode, uint8_t rsv, const uint8_t* data, size_t len);
};

// A session's output in order: runs of its own bytes (frames framed here, what wslay emitted, a raw close frame)
// and references to shared frames. Flush() writes from the front with one gathered write per call. It also
// counts the frames framed here that are not written completely (a part of queuedCount and of the unsent
// messages), by their end positions in the stream.
class OutputQueue {
 public:
  OutputQueue() = default;
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  bool empty() const { return appended_ == written_; }
  size_t bytes() const { return static_cast<size_t>(appended_ - written_); }
  size_t frames() const { return frame_ends_.size() - frame_head_; }

  // Own bytes, copied. `frame`: they end one of our frames (counted by frames() until written).
  void Append(const uint8_t* data, size_t len, bool frame = false);
  // Room for `len` own bytes at the end, to be filled before anything else is appended.
  uint8_t* Extend(size_t len);
  void EndFrame() { frame_ends_.push_back(appended_); }
  void AppendShared(std::shared_ptr<const SharedFrame> frame);

  // Writes what the transport takes, from the front, with one gathered write. kOk with the bytes written (fewer
  // than bytes() when the transport took only part), kWouldBlock, or kError.
  IoResult Flush(Transport* transport);
  // Gives everything up (the session ended); keeps no memory.
  void Clear();

 private:
  struct Chunk {
    std::shared_ptr<const SharedFrame> shared;  // set: the shared frame's bytes; else `own`
    std::vector<uint8_t> own;
    size_t offset = 0;  // bytes of this chunk already written
    const uint8_t* data() const { return shared ? shared->bytes.data() : own.data(); }
    size_t size() const { return shared ? shared->bytes.size() : own.size(); }
  };
  void Consumed(size_t n);
  static constexpr size_t kKeptCapacity = 64 * 1024;

  std::vector<Chunk> chunks_;  // a vector, not a deque: an empty deque still allocates
  size_t head_ = 0;            // chunks before it are written
  uint64_t appended_ = 0;      // stream positions: bytes ever appended and ever written
  uint64_t written_ = 0;
  std::vector<uint64_t> frame_ends_;  // end positions of our frames not written completely, from frame_head_
  size_t frame_head_ = 0;
};

}  // namespace wslay_node
