// libFuzzer target over a whole Session: the peer's bytes in through a socketpair, with the binding's buffering,
// close handling, limits and permessage-deflate (any window, either direction, with or without context takeover)
// in the loop (native/session.cc on the system wslay). The host echoes what it receives (plainly or as a
// fragmented message), and a script in the input interleaves the host's controls (pause, resume, queue, close,
// shutdown, quiet ticks that free the wslay context) and the peer's behaviour (slow reads, EOF) with the input. Everything the session writes is parsed by a
// frame decoder and checked against what the host queued (see the oracles below).
//
// Input:
//   byte 0  configuration: bit 0 server, 1 no buffering, 2 deflate, 3 first bytes as the upgrade head, 4 echo as
//           fragmented, 5 pause delivery inside callbacks, 6 slow peer (small SO_SNDBUF, partial reads), 7 small
//           limits
//   byte 1  the peer's write size per round (1 + 37 * byte)
//   byte 2  deflate: bits 0-2 our compress window - 8, bit 3 compress without context takeover; bits 4-6 the
//           peer's window - 8, bit 7 the peer without context takeover
//   byte 3  bits 0-3 the peer's read size per round (0: all), bits 4-5 maxBackpressure (none, 1 KiB, 16 KiB,
//           256 KiB), bit 6 no echo, bit 7 deflate threshold 0
//   byte 4  script length L; then L script bytes (one per round, see Apply), then the peer's bytes.
//
// Oracles (a violation aborts with a message):
//   - the session writes valid frames (opcodes, masking for its role, control frames whole and <= 125 bytes,
//     minimal lengths, RSV1 only on the first frame of a compressed message, continuations in order);
//   - compressed messages inflate with the negotiated window (and, without context takeover, with a reset inflater;
//     the script's messages repeat at distances of 2^8..2^15 bytes, so a larger window than negotiated shows);
//   - the data messages written are the messages queued, in queue order, byte for byte;
//   - the report's unsent count is at least the queued data messages the peer did not receive completely, and at
//     most that plus the pings and the close frame the session may still hold; FUZZ_ORACLE_UNSENT_BACKLOG=1: the
//     lower bound also when bytes stayed unsent (off by default: a message whose end was in the session's backlog
//     when it ended is counted in unsentBytes only, fuzz/known/);
//   - the close code written is the report's sentCode;
//   - a valid close frame among the peer's frames is read (the report has its code) unless the session failed
//     first or reading or writing was shut down, also after close() while reading is paused (issue 11 item 8);
//     frames before it with a bad header, a length over maxRecvSize or plain text that is not UTF-8, or a reason
//     that is not UTF-8, make it invalid (wslay fails on them, silently once our close is out: ScanPeerFrames);
//   - every ping read gets its pong, unless a close or a failure intervened or writing was shut down, also while
//     a fragmented source is starved (item 6);
//   - when we fail the connection after close() was called, the report's code is the code we sent, not 1006;
//   - no frame after our close frame (item 4).
// Inputs that once broke an oracle are replayed from fuzz/regressions/.
// FUZZ_DEBUG=1 prints what was queued, written and reported.
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../native/session.h"
#include "../native/utf8.h"

namespace {

using wslay_node::FragmentChunk;
using wslay_node::QueueResult;
using wslay_node::Session;
using wslay_node::SessionConfig;
using wslay_node::SessionHost;
using wslay_node::ThreadBuffers;

bool Enabled(const char* flag) {
  const char* v = std::getenv(flag);
  return v != nullptr && std::strcmp(v, "1") == 0;
}

[[noreturn]] void Violation(const char* what, size_t detail = 0) {
  std::fprintf(stderr, "receive_fuzzer oracle: %s (%zu)\n", what, detail);
  std::abort();
}

struct Message {
  uint8_t opcode;
  std::string payload;
};

// Parses what the session writes, as its peer would, and checks every frame.
class OutputDecoder {
 public:
  OutputDecoder(bool session_is_client, int compress_bits, bool compress_reset, bool check_close_order)
      : masked_(session_is_client), compress_bits_(compress_bits), compress_reset_(compress_reset),
        check_close_order_(check_close_order) {}
  ~OutputDecoder() {
    if (inflating_) inflateEnd(&strm_);
  }

  void Feed(const uint8_t* data, size_t len) {
    buf_.append(reinterpret_cast<const char*>(data), len);
    size_t used = 0;
    while (ParseFrame(&used)) {
    }
    buf_.erase(0, used);
  }

  std::vector<Message> messages;  // complete data messages, inflated
  size_t control_frames = 0;      // pings and pongs
  size_t pongs = 0;
  bool close_seen = false;
  int close_code = -1;            // -1: no close frame; 0: one without a code

 private:
  bool ParseFrame(size_t* used) {
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data()) + *used;
    size_t avail = buf_.size() - *used;
    if (avail < 2) return false;
    bool fin = p[0] & 0x80, rsv1 = p[0] & 0x40;
    uint8_t opcode = p[0] & 0x0f;
    bool mask = p[1] & 0x80;
    uint64_t len = p[1] & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (avail < 4) return false;
      len = uint64_t{p[2]} << 8 | p[3];
      head = 4;
      if (len < 126) Violation("16-bit length under 126");
    } else if (len == 127) {
      if (avail < 10) return false;
      len = 0;
      for (int i = 2; i < 10; ++i) len = len << 8 | p[i];
      head = 10;
      if (len < 65536 || (len >> 63)) Violation("64-bit length not minimal");
    }
    if (mask) head += 4;
    if (avail < head || avail - head < len) return false;
    if ((p[0] & 0x30) != 0) Violation("RSV2/RSV3 set");
    if (mask != masked_) Violation("masking does not match the session's role");
    if (close_seen && check_close_order_) Violation("a frame after our close frame", opcode);
    std::string payload(reinterpret_cast<const char*>(p + head), len);
    if (mask) {
      for (size_t i = 0; i < payload.size(); ++i) payload[i] ^= p[head - 4 + (i & 3)];
    }
    *used += head + len;

    if (opcode >= 8) {
      if (!fin || len > 125 || rsv1) Violation("control frame fragmented, too long or with RSV1", opcode);
      if (opcode == 8) {
        if (len == 1) Violation("close frame with a 1-byte body");
        if (!close_seen) close_code = len >= 2 ? (uint8_t(payload[0]) << 8 | uint8_t(payload[1])) : 0;
        close_seen = true;
      } else if (opcode == 9 || opcode == 10) {
        ++control_frames;
        if (opcode == 10) ++pongs;
      } else {
        Violation("reserved control opcode", opcode);
      }
      return true;
    }
    if (opcode != 0 && opcode != 1 && opcode != 2) Violation("reserved data opcode", opcode);
    if (opcode == 0) {
      if (!in_message_) Violation("continuation without a message");
      if (rsv1) Violation("RSV1 on a continuation frame");
    } else {
      if (in_message_) Violation("new data frame inside a message");
      in_message_ = true;
      current_ = {opcode, {}};
      compressed_ = rsv1;
      if (rsv1 && compress_bits_ == 0) Violation("RSV1 without permessage-deflate");
      if (rsv1 && compress_bits_ == 8) Violation("compressed although our window is 8 (we send plain then)");
    }
    current_.payload += payload;
    if (fin) {
      in_message_ = false;
      if (compressed_) Inflate(&current_.payload);
      messages.push_back(std::move(current_));
    }
    return true;
  }

  // RFC 7692 §7.2.2: append 00 00 ff ff and inflate, with the window our side compresses with.
  void Inflate(std::string* payload) {
    if (!inflating_) {
      std::memset(&strm_, 0, sizeof strm_);
      if (inflateInit2(&strm_, -compress_bits_) != Z_OK) Violation("inflateInit2");
      inflating_ = true;
    } else if (compress_reset_ && inflateReset(&strm_) != Z_OK) {
      Violation("inflateReset");
    }
    std::string in = *payload + std::string("\x00\x00\xff\xff", 4);
    std::string out;
    strm_.next_in = reinterpret_cast<Bytef*>(&in[0]);
    strm_.avail_in = static_cast<uInt>(in.size());
    // zlib lets a distance reach back over the window plus what this inflate() call has written so far: small
    // calls keep that slack to 64 bytes, so a compressor using a larger window than negotiated is caught.
    uint8_t chunk[64];
    do {
      strm_.next_out = chunk;
      strm_.avail_out = sizeof chunk;
      int r = inflate(&strm_, Z_SYNC_FLUSH);
      if (r != Z_OK && r != Z_BUF_ERROR) Violation("a compressed message does not inflate with the negotiated window", compress_bits_);
      out.append(reinterpret_cast<char*>(chunk), sizeof chunk - strm_.avail_out);
    } while (strm_.avail_in > 0 || strm_.avail_out == 0);
    *payload = std::move(out);
  }

  const bool masked_;
  const int compress_bits_;  // 0: no deflate
  const bool compress_reset_;
  const bool check_close_order_;
  std::string buf_;
  bool in_message_ = false;
  bool compressed_ = false;
  Message current_;
  z_stream strm_;
  bool inflating_ = false;
};

// What the peer sent (up to the first length that cannot be a frame): the pings (an upper bound on the pongs wslay
// can have queued) and whether a close frame follows frames that are all valid in what wslay checks itself: the
// headers (FIN, RSV, opcode, masking, control lengths), each data frame's length against maxRecvSize, the UTF-8 of
// plain text messages, and the close's own reason. wslay fails on those silently once our close is out (its own
// close cannot be queued then), so the session reads that close no more and reports 1006; what the session checks
// itself (close codes, inflated text) gets the failure's code in the report and needs no exception here.
struct PeerFrames {
  size_t pings = 0;
  bool valid_close = false;
};
PeerFrames ScanPeerFrames(const uint8_t* p, size_t n, bool masked, bool deflate, uint64_t max_recv_size) {
  PeerFrames frames;
  bool valid = true;
  bool in_message = false;
  bool plain_text = false;  // the current message is text without RSV1: wslay validates its UTF-8
  wslay_node::Utf8Validator utf8;
  std::string payload;
  for (size_t at = 0; n - at >= 2;) {
    uint64_t len = p[at + 1] & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (n - at < 4) break;
      len = uint64_t{p[at + 2]} << 8 | p[at + 3];
      head = 4;
      valid = valid && len >= 126;
    } else if (len == 127) {
      if (n - at < 10) break;
      len = 0;
      for (int i = 2; i < 10; ++i) len = len << 8 | p[at + i];
      head = 10;
      valid = valid && len >= 65536 && !(len >> 63);
    }
    if (p[at + 1] & 0x80) head += 4;
    if (len > n || n - at < head + len) break;  // an incomplete frame: the session cannot have acted on it
    const uint8_t opcode = p[at] & 0x0f;
    const bool fin = p[at] & 0x80, rsv1 = p[at] & 0x40;
    valid = valid && (p[at] & 0x30) == 0 && bool(p[at + 1] & 0x80) == masked;
    auto unmasked_payload = [&]() -> const uint8_t* {
      payload.assign(reinterpret_cast<const char*>(p + at + head), len);
      if (p[at + 1] & 0x80) {
        for (size_t i = 0; i < len; ++i) payload[i] ^= p[at + head - 4 + (i & 3)];
      }
      return reinterpret_cast<const uint8_t*>(payload.data());
    };
    if (opcode >= 8) {
      valid = valid && fin && !rsv1 && len <= 125 && len != 1 && opcode <= 10;
      if (opcode == 8 && valid && len > 2) valid = wslay_node::IsValidUtf8(unmasked_payload() + 2, len - 2);
    } else {
      valid = valid && opcode <= 2 && (opcode == 0) == in_message && (!rsv1 || (deflate && opcode != 0)) &&
              len <= max_recv_size;
      if (opcode != 0) {
        plain_text = opcode == 1 && !rsv1;
        utf8.Reset();
      }
      in_message = !fin;
      if (plain_text && valid) valid = utf8.Feed(unmasked_payload(), len) && (!fin || utf8.Complete());
    }
    if (opcode == 9) ++frames.pings;
    if (opcode == 8 && valid) frames.valid_close = true;
    at += head + len;
  }
  return frames;
}

class FuzzHost : public SessionHost {
 public:
  Session* session = nullptr;
  bool echo = true;
  bool fragmented_echo = false;
  bool pause_in_callbacks = false;
  bool paused = false;       // paused by a callback: resumed on the next round
  bool starve_next = false;  // the next fragment read returns no data (the source is starved)
  std::vector<Message> queued;  // data messages the session accepted, in queue order
  size_t user_pings = 0;
  // What the script did
  bool read_paused = false;
  bool read_shut = false;
  bool close_requested = false;
  uint16_t requested_code = 0;
  bool write_paused = false;
  bool write_shut = false;
  bool starved = false;       // a source returned no data at least once
  size_t pings_received = 0;  // delivered to the host: wslay queued a pong for each

  void QueueData(uint8_t opcode, const uint8_t* data, size_t len, bool fragmented) {
    QueueResult r;
    if (fragmented) {
      auto* rest = new std::string(reinterpret_cast<const char*>(data), len);
      r = session->QueueFragmented(rest, opcode, 0);
      if (r != QueueResult::kOk) delete rest;  // the host still owns a token the session refused
    } else {
      r = session->Queue(opcode, data, len, 0);
    }
    if (r == QueueResult::kOk) queued.push_back({opcode, std::string(reinterpret_cast<const char*>(data), len)});
  }

  bool Wants(Event) override { return true; }

  void OnMessage(uint8_t, uint8_t opcode, const uint8_t* data, size_t len, uint16_t) override {
    if (opcode == WSLAY_PING) ++pings_received;
    if (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME) return;
    if (echo) QueueData(opcode, data, len, fragmented_echo);
    if (pause_in_callbacks) {
      paused = true;
      session->SetReadPaused(true);
    }
  }
  void OnFrameStart(bool, uint8_t, uint8_t, uint64_t) override {}
  void OnFrameChunk(const uint8_t*, size_t) override {}
  void OnFrameEnd() override {}
  int CustomMask(uint8_t*, size_t) override { return 0; }

  FragmentChunk ReadFragment(void* token, size_t len) override {
    if (starve_next) {
      starve_next = false;
      starved = true;
      return {FragmentChunk::kData, nullptr, 0};
    }
    auto* rest = static_cast<std::string*>(token);
    size_t n = std::min(len / 2 + 1, rest->size());  // chunks shorter than asked, so several frames go out
    chunk_.assign(*rest, 0, n);
    rest->erase(0, n);
    return {rest->empty() ? FragmentChunk::kEof : FragmentChunk::kData,
            reinterpret_cast<const uint8_t*>(chunk_.data()), chunk_.size()};
  }
  void ReleaseFragment(void* token) override { delete static_cast<std::string*>(token); }
  bool CanDeliver() override { return true; }

 private:
  std::string chunk_;
};

// The peer's end of the socketpair: writes the fuzz input, reads what the session writes (all of it, or
// `read_size` bytes per round), and hands that to the decoder.
struct Peer {
  int fd;
  size_t read_size;  // 0: everything available
  OutputDecoder* decoder;
  bool write_shut = false;

  void Read(bool everything) {
    uint8_t buf[65536];
    size_t budget = (everything || read_size == 0) ? SIZE_MAX : read_size;
    while (budget > 0) {
      ssize_t n = ::read(fd, buf, std::min(sizeof buf, budget));
      if (n <= 0) break;
      decoder->Feed(buf, static_cast<size_t>(n));
      budget -= static_cast<size_t>(n);
    }
  }
};

// Codes the host closes with: none of the codes a session fails with (1002, 1007, 1009, 1011), so a close frame
// with one of those is a failure, not the host's close().
constexpr uint16_t kCloseCodes[16] = {1000, 1001, 1003, 1008, 1012, 1013, 1014, 1010,
                                      3000, 3001, 3999, 4000, 4001, 4500, 4998, 4999};

// The repeating unit of the host's messages: 2^(8 + k) + 100 pseudo-random letters.
const std::string& RepeatUnit(int k) {
  static std::string units[8];
  std::string& unit = units[k];
  if (unit.empty()) {
    unit.resize((size_t{1} << (8 + k)) + 100);
    for (size_t i = 0; i < unit.size(); ++i) unit[i] = static_cast<char>('a' + (i * 2654435761u >> 7) % 26);
  }
  return unit;
}

// One script byte: the high nibble picks the action, the low nibble is its argument.
void Apply(uint8_t op, Session& session, FuzzHost& host, Peer& peer, bool* skip_read) {
  const uint8_t arg = op & 15;
  std::string body;
  switch (op >> 4) {
    case 0:
      // The host's quiet ticks: a second one with no step between frees a quiet session's wslay context.
      if (arg & 1) {
        session.ReleaseIfQuiet();
        session.ReleaseIfQuiet();
      }
      break;
    case 1:
      session.SetReadPaused(true);
      host.read_paused = true;
      break;
    case 2:
      session.SetReadPaused(false);
      host.read_paused = false;
      break;
    case 3:
      session.SetWritePaused(true);
      host.write_paused = true;
      break;
    case 4:
      session.SetWritePaused(false);
      host.write_paused = false;
      break;
    case 5:
    case 6:
      // Letters repeating with a period of 2^8..2^15 (+100) bytes: the only matches a compressor finds lie that far
      // back, so a window larger than negotiated shows up when the decoder inflates with the negotiated one.
      body.resize(op >> 4 == 5 ? arg * arg * 67u : (arg + 1) * 2039u);
      for (size_t at = 0; at < body.size();) {
        const std::string& unit = RepeatUnit(arg & 7);
        size_t n = std::min(unit.size(), body.size() - at);
        std::memcpy(&body[at], unit.data(), n);
        at += n;
      }
      host.QueueData((arg & 1) ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME,
                     reinterpret_cast<const uint8_t*>(body.data()), body.size(), op >> 4 == 6);
      break;
    case 7:
      if (session.RequestClose(kCloseCodes[arg], (arg & 1) ? "bye" : "")) host.requested_code = kCloseCodes[arg];
      host.close_requested = true;
      break;
    case 8:
      session.ShutdownRead();
      host.read_shut = true;
      break;
    case 9:
      session.ShutdownWrite();
      host.write_shut = true;
      break;
    case 10: peer.read_size = arg == 0 ? 0 : arg * arg * 31u; break;
    case 11: *skip_read = true; break;
    case 12: {
      body.assign(arg * 8u, 'p');
      if (session.Queue(WSLAY_PING, reinterpret_cast<const uint8_t*>(body.data()), body.size(), 0) == QueueResult::kOk) {
        ++host.user_pings;
      }
      break;
    }
    case 13: host.starve_next = true; break;
    case 14:
      ::shutdown(peer.fd, SHUT_WR);
      peer.write_shut = true;
      break;
    case 15: session.Step(false); break;
  }
}

// Whether a poll handle on the session's fd would fire now: what it wants, and the socket ready for it (readable
// includes EOF).
bool HasWork(const Session& session, int fd) {
  if (session.HasPendingInput() || (session.WantedEvents() & Session::kWritable)) return true;
  if (!(session.WantedEvents() & Session::kReadable)) return false;
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)) != 0;
}

void SetSendBuffer(int fd, int bytes) { ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 5) return 0;
  const uint8_t flags = data[0];
  const size_t chunk = 1 + data[1] * 37;
  const uint8_t deflate = data[2];
  const uint8_t misc = data[3];
  const size_t script_len = std::min<size_t>(data[4], size - 5);
  const uint8_t* script = data + 5;
  const uint8_t* input = script + script_len;
  const size_t input_len = size - 5 - script_len;

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  for (int fd : sv) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  const bool slow_peer = flags & 64;
  if (slow_peer) {  // the kernel's minimum: partial writes after a few KiB
    SetSendBuffer(sv[0], 1);
    SetSendBuffer(sv[1], 1);
  }

  SessionConfig config;
  config.server = flags & 1;
  config.buffering = !(flags & 2);
  config.deflate = flags & 4;
  config.deflate_params.compressWindowBits = 8 + (deflate & 7);
  config.deflate_params.compressNoContextTakeover = deflate & 8;
  config.deflate_params.decompressWindowBits = 8 + ((deflate >> 4) & 7);
  config.deflate_params.decompressNoContextTakeover = deflate & 128;
  config.max_recv_size = (flags & 128) ? 4096 : (1 << 20);
  config.max_fragments = (flags & 128) ? 16 : 1024;
  config.max_pending_pongs = (flags & 128) ? 4 : 1024;
  config.deflate_threshold = (misc & 128) ? 0 : 64;
  static constexpr uint64_t kBackpressure[4] = {0, 1024, 16384, 262144};
  config.max_backpressure = kBackpressure[(misc >> 4) & 3];
  const size_t peer_read = (misc & 15) == 0 ? 0 : 1 + (misc & 15) * (misc & 15) * 61u;

  const int compress_bits = config.deflate ? config.deflate_params.compressWindowBits : 0;
  OutputDecoder decoder(!config.server, compress_bits, config.deflate_params.compressNoContextTakeover,
                        /*check_close_order=*/true);
  Peer peer{sv[1], slow_peer ? peer_read : 0, &decoder};
  ThreadBuffers buffers;
  FuzzHost host;
  host.echo = !(misc & 64);
  host.fragmented_echo = flags & 16;
  host.pause_in_callbacks = flags & 32;
  {
    Session session(config, &buffers, &host);
    host.session = &session;
    size_t head = (flags & 8) ? std::min(input_len, chunk) : 0;
    session.Attach(std::unique_ptr<wslay_node::Transport>(new wslay_node::FdTransport(sv[0])), input, head);
    size_t sent = head;
    size_t script_at = 0;
    // Rounds: a script action, a write of the peer's bytes, a step, a read by the peer. Bounded: every round
    // consumes input or script, or steps a session that still has work.
    for (int round = 0; round < 4096 && !session.IsOver(); ++round) {
      bool skip_read = false;
      bool scripted = script_at < script_len;
      if (scripted) Apply(script[script_at++], session, host, peer, &skip_read);
      if (session.IsOver()) break;
      if (sent < input_len && !peer.write_shut) {
        ssize_t n = ::write(sv[1], input + sent, std::min(chunk, input_len - sent));
        if (n > 0) sent += static_cast<size_t>(n);
      } else if (!scripted && round > 0 && !HasWork(session, sv[0])) {
        if (host.paused) {
          host.paused = false;
          session.SetReadPaused(false);
          continue;
        }
        break;
      }
      session.Step(true);
      if (!skip_read) peer.Read(false);
      if (host.paused) {  // resume on the next round, as startRead() on a later tick would
        host.paused = false;
        session.SetReadPaused(false);
      }
    }
    // The end: the host resumes what it paused (not reading after close() while paused: the session must read the
    // peer's close anyway; a starved source stays starved: control frames must flow past it) and the peer reads
    // all, until the session has nothing left to do.
    const bool closing_paused = host.close_requested && host.read_paused;
    if (!closing_paused) session.SetReadPaused(false);
    if (host.write_paused) session.SetWritePaused(false);
    for (int round = 0; round < 256 && !session.IsOver(); ++round) {
      session.Step(true);
      peer.Read(true);
      if (!HasWork(session, sv[0])) break;
    }
    peer.Read(true);
    wslay_node::CloseReport report = session.Report();

    if (Enabled("FUZZ_DEBUG")) {
      std::fprintf(stderr, "queued %zu written %zu unsent %zu/%zu sent_code %u code %u close_written %d over %d\n",
                   host.queued.size(), decoder.messages.size(), report.unsent_messages, report.unsent_bytes,
                   report.sent_code, report.code, decoder.close_code, session.IsOver());
    }
    // Oracles over what the peer received.
    const size_t written = decoder.messages.size();
    if (written > host.queued.size()) Violation("more data messages written than queued", written);
    for (size_t i = 0; i < written; ++i) {
      if (decoder.messages[i].opcode != host.queued[i].opcode || decoder.messages[i].payload != host.queued[i].payload) {
        Violation("a written message differs from the one queued in its place", i);
      }
    }
    const size_t unreceived = host.queued.size() - written;
    // A session that ends (EOF, error) with bytes still in its backlog drops them, and wslay counted their message
    // as sent: then only unsentBytes says so (a new finding, see FUZZ_ORACLE_UNSENT_BACKLOG in the header).
    if (report.unsent_messages < unreceived && (report.unsent_bytes == 0 || Enabled("FUZZ_ORACLE_UNSENT_BACKLOG"))) {
      Violation("unsent count below the messages the peer did not receive", unreceived);
    }
    const PeerFrames peer_frames = ScanPeerFrames(input, sent, config.server, config.deflate, config.max_recv_size);
    const size_t pings = peer_frames.pings + host.user_pings;
    const size_t control_unsent = pings > decoder.control_frames ? pings - decoder.control_frames : 0;
    if (report.unsent_messages > unreceived + control_unsent + 1) {
      Violation("unsent count above what the session can still hold", report.unsent_messages);
    }
    if (decoder.close_code > 0 && report.sent_code != decoder.close_code) Violation("sentCode is not the close code written", report.sent_code);
    // Every ping read got its pong, when nothing closed, failed or stopped writing.
    if (!decoder.close_seen && report.sent_code == 0 && report.code == 1006 && !host.close_requested &&
        !host.write_shut && !peer.write_shut && decoder.pongs != host.pings_received) {
      Violation("pings read without their pong written", host.pings_received - decoder.pongs);
    }
    // After close(), a failure of the connection (wslay's own 1007 for a bad close reason, say) is reported with the
    // code we sent, not as 1006.
    const int written_code = decoder.close_code;
    const bool failed_after_close = host.close_requested && report.code == 1006 &&
                                    (written_code == 1002 || written_code == 1007 || written_code == 1009 ||
                                     written_code == 1011);
    if (failed_after_close) {
      Violation("we failed the connection after close(), and the report says 1006", written_code);
    }
    // A valid close frame among the peer's frames is read unless reading or writing was shut down or the session
    // failed first (then the code is ours, not 1006).
    if (peer_frames.valid_close && !host.read_shut && !host.write_shut && report.code == 1006 && !failed_after_close) {
      Violation("the peer's close frame was never read", closing_paused);
    }
    session.Close();  // closes sv[0]
  }
  ::close(sv[1]);
  return 0;
}
