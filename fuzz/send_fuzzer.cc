// Differential libFuzzer target for the send side: one script drives two Sessions, one on the plain wslay path
// (SessionConfig::plain_wslay) and one on the binding's fast path (data frames framed directly into the output,
// native/frame_writer.h), over fake transports that take writes only up to a scripted budget (partial writes of
// any size). The host emulates Connection: queueMsg from outside an event followed by the per-loop flush
// (FlushOutput, or a whole Step when wslay holds something), queueMsg from inside onMsgRecv, writable events.
//
// Input: byte 0 configuration (bit 0 client, 1 permessage-deflate, 2 compress without context takeover, 3 deflate
// threshold 0, 4 maxBackpressure 64 KiB); then up to 200 ops, each one byte and its arguments (the switch below).
//
// Oracles (a violation aborts with a message):
//   - both write valid frames for their role (masked as a client, minimal lengths, control frames whole);
//   - the data frames written (opcode, RSV, payload unmasked) are the same sequence on both paths, and so are the
//     control frames; where a control frame falls between data frames may differ (wslay sends its control frames
//     ahead of the data messages in its own queue, while a directly framed message is already in the output), so
//     when a connection was cut short the frames of one are a prefix of the other's;
//   - once both have written everything (the end of the script gives unlimited room), the same close frame, nothing
//     after it, the same report (codes, cleanness, unsent counts), bufferedAmount and queuedCount both 0, unless
//     something made the paths differ by design: a peer's close while messages waited (wslay's echo jumps ahead
//     of the messages in its queue, which are never sent, while a directly framed one is already in the output
//     and goes first), stopWrite() (it holds what wslay has queued, not what was framed directly), terminate(),
//     or maxBackpressure refusing on one path only (bufferedAmount counts the headers of direct frames), or pings
//     arriving after close() (wslay stops answering them once its close frame is queued); then the
//     data frames and control frames of one path are a prefix of the other's, and the close codes agree (unless
//     terminated; the sent codes only when nothing made the paths differ);
//   - queueMsg answers the same on both (accepted, refused for backpressure or closing) while nothing is blocked.
// FUZZ_DEBUG=1 prints both wires.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../native/session.h"

namespace {

using wslay_node::FragmentChunk;
using wslay_node::IoResult;
using wslay_node::IoStatus;
using wslay_node::QueueResult;
using wslay_node::Session;
using wslay_node::SessionConfig;
using wslay_node::SessionHost;
using wslay_node::ThreadBuffers;

[[noreturn]] void Violation(const char* what, long detail = 0) {
  std::fprintf(stderr, "send_fuzzer oracle: %s (%ld)\n", what, detail);
  std::abort();
}

// What the fake transport reads from and writes to; it outlives the transport (the session frees that).
struct Pipe {
  std::string inbound;  // the peer's bytes
  size_t in_off = 0;
  size_t budget = 0;    // bytes the transport takes from now on (SIZE_MAX: unlimited)
  std::string wire;     // everything written
};

// Takes writes up to the pipe's budget: partial writes of any size.
class FakeTransport final : public wslay_node::Transport {
 public:
  explicit FakeTransport(Pipe* pipe) : pipe_(pipe) {}
  IoResult Read(uint8_t* buf, size_t len) override {
    if (pipe_->in_off < pipe_->inbound.size()) {
      size_t n = std::min(len, pipe_->inbound.size() - pipe_->in_off);
      std::memcpy(buf, pipe_->inbound.data() + pipe_->in_off, n);
      pipe_->in_off += n;
      return {IoStatus::kOk, n, 0};
    }
    return {IoStatus::kWouldBlock, 0, 0};
  }
  IoResult WriteV(const struct iovec* slices, size_t n) override {
    size_t taken = 0, total = 0;
    for (size_t i = 0; i < n; ++i) total += slices[i].iov_len;
    for (size_t i = 0; i < n && pipe_->budget > 0; ++i) {
      size_t m = std::min(slices[i].iov_len, pipe_->budget);
      pipe_->wire.append(static_cast<const char*>(slices[i].iov_base), m);
      if (pipe_->budget != SIZE_MAX) pipe_->budget -= m;
      taken += m;
      if (m < slices[i].iov_len) break;
    }
    if (taken == 0 && total != 0) return {IoStatus::kWouldBlock, 0, 0};
    return {IoStatus::kOk, taken, 0};
  }

 private:
  Pipe* pipe_;
};

struct Op {
  uint8_t opcode;
  std::string payload;
};

class FuzzHost : public SessionHost {
 public:
  bool Wants(Event event) override { return event == kMessage; }
  void OnMessage(uint8_t, uint8_t opcode, const uint8_t*, size_t, uint16_t) override {
    if (opcode != 1 || session == nullptr) return;  // a peer's text message: queue what the script put aside
    for (const Op& op : inside) {
      results.push_back(session->Queue(op.opcode, reinterpret_cast<const uint8_t*>(op.payload.data()),
                                       op.payload.size(), 0));
    }
  }
  void OnFrameStart(bool, uint8_t, uint8_t, uint64_t) override {}
  void OnFrameChunk(const uint8_t*, size_t) override {}
  void OnFrameEnd() override {}
  // The same keys in the same order on both paths (not a script: the direct path may ask for them).
  int CustomMask(uint8_t* buf, size_t len) override {
    for (size_t i = 0; i < len; ++i) buf[i] = static_cast<uint8_t>(mask_counter_ * 37 + i * 11 + 1);
    ++mask_counter_;
    return 1;
  }
  FragmentChunk ReadFragment(void*, size_t) override { return {FragmentChunk::kError, nullptr, 0}; }
  void ReleaseFragment(void*) override {}
  bool CanDeliver() override { return true; }

  Session* session = nullptr;
  std::vector<Op> inside;
  std::vector<QueueResult> results;

 private:
  uint32_t mask_counter_ = 0;
};

struct Frame {
  uint8_t opcode, rsv;
  bool fin;
  std::string payload;
};

std::vector<Frame> ParseWire(const std::string& wire, bool masked, bool* complete) {
  std::vector<Frame> frames;
  size_t pos = 0;
  const auto* p = reinterpret_cast<const uint8_t*>(wire.data());
  for (;;) {
    size_t avail = wire.size() - pos;
    if (avail < 2) break;
    const uint8_t* h = p + pos;
    uint64_t len = h[1] & 0x7f;
    size_t head = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = uint64_t{h[2]} << 8 | h[3];
      head = 4;
      if (len < 126) Violation("16-bit length under 126");
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 2; i < 10; ++i) len = len << 8 | h[i];
      head = 10;
      if (len <= 0xffff) Violation("64-bit length not minimal");
    }
    bool mask = (h[1] & 0x80) != 0;
    if (mask != masked) Violation("masking does not match the role");
    if (mask) head += 4;
    if (avail < head || avail - head < len) break;
    Frame f{static_cast<uint8_t>(h[0] & 0x0f), static_cast<uint8_t>((h[0] >> 4) & 7), (h[0] & 0x80) != 0,
            std::string(reinterpret_cast<const char*>(h + head), len)};
    if (mask) {
      for (size_t i = 0; i < f.payload.size(); ++i) f.payload[i] ^= h[head - 4 + (i & 3)];
    }
    if (f.opcode >= 8 && (!f.fin || len > 125)) Violation("control frame fragmented or too long", f.opcode);
    frames.push_back(std::move(f));
    pos += head + len;
  }
  *complete = pos == wire.size();
  return frames;
}

// A session and everything it runs on.
struct Side {
  explicit Side(const SessionConfig& config) : session(config, &buffers, &host) {
    host.session = &session;
    session.Attach(std::unique_ptr<wslay_node::Transport>(new FakeTransport(&pipe)), nullptr, 0);
  }
  ThreadBuffers buffers;
  FuzzHost host;
  Pipe pipe;
  Session session;
  bool ended = false;
  bool deferred = false;  // a Step() is due on the next loop iteration
  wslay_node::CloseReport report{};

  bool Live() const { return !ended; }
  void CheckEnd() {
    if (!ended && session.IsOver()) {
      report = session.Report();
      ended = true;
      session.Close();
    }
  }
  void Step(bool readable) {
    if (!Live()) return;
    session.Step(readable, true);
    CheckEnd();
  }
  // Connection::FlushQueued: the per-loop flush after queueMsg from outside an event.
  void Flush() {
    if (!Live() || session.WriteBlocked()) return;
    if (session.WslayWantsWrite()) {
      Step(false);
      return;
    }
    if (session.OutputWaiting()) session.FlushOutput();
    CheckEnd();
  }
};

std::string Payload(uint8_t opcode, size_t len, uint32_t seed) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; ++i) {
    // Text stays ASCII (valid UTF-8); repeats so that deflate finds matches.
    uint8_t v = static_cast<uint8_t>((seed * 131 + (i % 97) * 7 + (i / 251)) & 0xff);
    s[i] = static_cast<char>(opcode == 1 ? 0x20 + (v % 90) : v);
  }
  return s;
}

std::string PeerFrame(uint8_t opcode, const std::string& payload, bool to_server) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  uint8_t mask_bit = to_server ? 0x80 : 0;
  f.push_back(static_cast<char>(mask_bit | payload.size()));  // <= 125 here
  std::string body = payload;
  if (to_server) {
    const char key[4] = {0x11, 0x22, 0x33, 0x44};
    f.append(key, 4);
    for (size_t i = 0; i < body.size(); ++i) body[i] ^= key[i & 3];
  }
  return f + body;
}

void Debug(const char* label, const std::vector<Frame>& frames) {
  std::fprintf(stderr, "%s:", label);
  for (const Frame& f : frames) std::fprintf(stderr, " %u/%zu", f.opcode, f.payload.size());
  std::fprintf(stderr, "\n");
}

bool SameFrames(const std::vector<Frame>& a, const std::vector<Frame>& b, bool control, bool prefix_ok) {
  std::vector<const Frame*> x, y;
  for (const Frame& f : a) {
    if ((f.opcode >= 8) == control && f.opcode != 8) x.push_back(&f);
  }
  for (const Frame& f : b) {
    if ((f.opcode >= 8) == control && f.opcode != 8) y.push_back(&f);
  }
  size_t n = std::min(x.size(), y.size());
  if (!prefix_ok && x.size() != y.size()) return false;
  for (size_t i = 0; i < n; ++i) {
    if (x[i]->opcode != y[i]->opcode || x[i]->rsv != y[i]->rsv || x[i]->fin != y[i]->fin ||
        x[i]->payload != y[i]->payload) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t cfg = data[0];
  SessionConfig config;
  config.server = (cfg & 1) == 0;
  if (cfg & 2) {
    config.deflate = true;
    config.deflate_params.compressNoContextTakeover = (cfg & 4) != 0;
    config.deflate_threshold = (cfg & 8) ? 0 : 1024;
  }
  if (cfg & 16) config.max_backpressure = 64 * 1024;
  std::unique_ptr<wslay_node::MessageCompressor> shared_compressor;
  if (config.deflate) {
    wslay_node::DeflateParams shared_params = config.deflate_params;
    shared_params.compressNoContextTakeover = true;
    shared_compressor.reset(new wslay_node::MessageCompressor(shared_params));
  }
  SessionConfig plain_config = config;
  plain_config.plain_wslay = true;
  Side plain(plain_config), fast(config);
  Side* sides[2] = {&plain, &fast};
  const bool debug = std::getenv("FUZZ_DEBUG") != nullptr;

  size_t pos = 1;
  auto next = [&]() -> uint8_t { return pos < size ? data[pos++] : 0; };
  uint32_t seed = 0;
  bool peer_closed = false;
  bool terminated = false;
  bool paused = false;    // stopWrite() holds what wslay has queued, not what was framed directly before it
  bool close_asked = false, pong_race = false;
  bool diverged = false;  // the paths accepted different messages (backpressure): only per-path checks from then
  for (Side* s : sides) {
    s->pipe.budget = SIZE_MAX;
    s->Step(false);  // the first turn after attach
  }
  int ops = 0;
  while (pos < size && ops++ < 200) {
    uint8_t op = next();
    uint8_t a = next();
    if (debug) {
      std::fprintf(stderr, "op %d a %u | plain %zu/%zu fast %zu/%zu\n", op % 12, a, plain.pipe.wire.size(),
                   plain.Live() ? plain.session.BufferedAmount() : 0, fast.pipe.wire.size(),
                   fast.Live() ? fast.session.BufferedAmount() : 0);
    }
    switch (op % 12) {
      case 0:  // queueMsg from outside an event (text or binary), 0 to ~70 KB
      case 1: {
        uint8_t opcode = (op % 12) == 0 ? 1 : 2;
        size_t len = (a & 0x80) ? (static_cast<size_t>(a & 0x7f) << 9 | next() << 1) % 70001 : a & 0x7f;
        std::string payload = Payload(opcode, len, ++seed);
        // Every other one as a frame built once (pub/sub): compressed by a shared compressor without context
        // takeover when the sessions negotiated deflate and the message reaches the threshold.
        const bool shared = ((op / 12) & 1) != 0;
        std::shared_ptr<const wslay_node::SharedFrame> frame;
        if (shared) {
          const auto* bytes = reinterpret_cast<const uint8_t*>(payload.data());
          std::vector<uint8_t> compressed;
          if (shared_compressor && payload.size() >= config.deflate_threshold &&
              shared_compressor->Compress(bytes, payload.size(), true, &compressed)) {
            frame = wslay_node::SharedFrame::Make(opcode, 4, compressed.data(), compressed.size());
          } else {
            frame = wslay_node::SharedFrame::Make(opcode, 0, bytes, payload.size());
          }
        }
        QueueResult r[2];
        bool blocked = false;
        for (int i = 0; i < 2; ++i) {
          Side* s = sides[i];
          r[i] = QueueResult::kClosing;
          if (!s->Live()) continue;
          blocked = blocked || s->session.WriteBlocked() || s->session.BufferedAmount() != 0;
          r[i] = shared ? s->session.QueueShared(frame)
                        : s->session.Queue(opcode, reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), 0);
          if (r[i] == QueueResult::kNeedsOwnFrame) {  // what a publisher does for such a subscriber
            r[i] = s->session.Queue(opcode, reinterpret_cast<const uint8_t*>(payload.data()), payload.size(), 0);
          }
        }
        // Backpressure is judged on bufferedAmount, which counts headers on the fast path: the answers must agree
        // when nothing waited on either side; otherwise the paths may accept different messages from here on.
        if (plain.Live() && fast.Live() && r[0] != r[1]) {
          if (!blocked) Violation("queueMsg answered differently");
          diverged = true;
        }
        break;
      }
      case 2:  // ping or pong from outside an event
      case 3: {
        std::string payload = Payload(2, a % 126, ++seed);
        for (Side* s : sides) {
          if (s->Live()) s->session.Queue((op % 12) == 2 ? 9 : 10, reinterpret_cast<const uint8_t*>(payload.data()),
                                          payload.size(), 0);
        }
        break;
      }
      case 4:  // a loop iteration: deferred work (close() defers a whole Step), then the flush
        for (Side* s : sides) {
          if (s->deferred) s->Step(false);
          s->deferred = false;
          s->Flush();
        }
        break;
      case 5:  // the transport takes up to this many more bytes (partial writes), then a writable event
      {
        size_t more = (a & 0x80) ? static_cast<size_t>(a & 0x7f) << 10 : a;
        for (Side* s : sides) {
          if (!s->Live()) continue;
          if (s->pipe.budget != SIZE_MAX) s->pipe.budget += more;
          s->Step(false);
        }
        break;
      }
      case 6:  // the transport takes nothing until op 5 gives room
        for (Side* s : sides) {
          if (s->Live()) s->pipe.budget = 0;
        }
        break;
      case 7:  // stopWrite / startWrite
        paused = true;
        for (Side* s : sides) {
          if (s->Live()) s->session.SetWritePaused((a & 1) != 0);
        }
        break;
      case 8:  // close()
        for (Side* s : sides) {
          close_asked = true;
          if (s->Live()) s->session.RequestClose(static_cast<uint16_t>(1000 + a % 4), std::string(a % 5, 'r'));
          s->deferred = true;  // as Connection::Close() does
        }
        break;
      case 9: {  // the peer sends a ping, or a text message whose onMsgRecv queues the next few messages
        std::string frame;
        if (a & 1) {
          frame = PeerFrame(9, Payload(2, a % 40, ++seed), config.server);
          // Once close() is asked, wslay answers pings only until its close frame is queued, which is when
          // everything before it was handed on: that moment differs by path, so the number of pongs may too.
          if (close_asked) pong_race = true;
        } else {
          std::vector<Op> inside;
          for (int i = 0, n = 1 + (a >> 1) % 4; i < n; ++i) {
            uint8_t kind = next();
            uint8_t opcode = kind % 4 == 0 ? 9 : (kind & 1) ? 1 : 2;
            size_t len = opcode == 9 ? kind % 100 : (kind & 0x80) ? size_t{next()} * 277 : kind;
            inside.push_back({opcode, Payload(opcode, len, ++seed)});
          }
          for (Side* s : sides) s->host.inside = inside;
          frame = PeerFrame(1, "q", config.server);
        }
        if (peer_closed) break;
        for (Side* s : sides) {
          if (!s->Live()) continue;
          s->pipe.inbound += frame;
          s->Step(true);
        }
        break;
      }
      case 10:  // the peer's close
        if (peer_closed) break;
        peer_closed = true;
        for (Side* s : sides) {
          if (!s->Live()) continue;
          s->pipe.inbound += PeerFrame(8, std::string("\x03\xe8", 2), config.server);
          s->Step(true);
        }
        break;
      case 11:  // terminate() (rarely)
        if (a < 8) {
          for (Side* s : sides) {
            if (!s->Live()) continue;
            s->session.Terminate();
            terminated = true;
            s->CheckEnd();
          }
        }
        break;
    }
  }
  // The end: room without limit, writing resumed, a few turns.
  for (Side* s : sides) {
    if (!s->Live()) continue;
    s->session.SetWritePaused(false);
    s->pipe.budget = SIZE_MAX;
    for (int i = 0; i < 4 && s->Live(); ++i) s->Step(true);
  }

  std::vector<Frame> frames[2];
  bool complete[2], drained[2];
  for (int i = 0; i < 2; ++i) {
    Side* s = sides[i];
    frames[i] = ParseWire(s->pipe.wire, !config.server, &complete[i]);
    if (!s->Live()) {
      drained[i] = s->report.unsent_bytes == 0 && s->report.unsent_messages == 0 && !s->report.timed_out &&
                   s->report.error == 0 && complete[i];
    } else {
      drained[i] = s->session.BufferedAmount() == 0 && s->session.QueuedCount() == 0 && complete[i];
    }
  }
  if (debug) {
    Debug("plain", frames[0]);
    Debug("fast ", frames[1]);
    for (Side* s : sides) {
      const wslay_node::CloseReport& r = s->report;
      std::fprintf(stderr, "%s: code %u sent %u clean %d unsent %zu/%zu error %d\n", s->Live() ? "live" : "ended",
                   r.code, r.sent_code, r.was_clean, r.unsent_messages, r.unsent_bytes, r.error);
    }
  }
  // Strict: nothing cut the connection short and no close came from the peer. A peer's close that arrives while
  // messages wait is where the paths may differ by design: wslay's echo jumps ahead of the data messages in its
  // queue (they are never sent), while a message framed directly is already in the output and goes first.
  if (plain.host.results != fast.host.results) diverged = true;  // inside onMsgRecv, under backpressure
  if (diverged && config.max_backpressure == 0) Violation("queueMsg answered differently without backpressure");
  const bool strict = drained[0] && drained[1] && !peer_closed && !terminated && !diverged && !paused;
  if (!diverged && !SameFrames(frames[0], frames[1], false, !strict)) Violation("data frames differ");
  if (!diverged && !SameFrames(frames[0], frames[1], true, !strict || pong_race)) Violation("control frames differ");
  const Frame* close[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    for (size_t k = 0; k < frames[i].size(); ++k) {
      if (frames[i][k].opcode != 8) continue;
      if (k + 1 != frames[i].size()) Violation("a frame after the close frame", i);
      close[i] = &frames[i][k];
    }
  }
  // (terminate() may find a close handed to the output on one path and still in wslay's queue on the other; after
  // a peer's close one path may have sent its own close() and the other the echo)
  if (!terminated && !plain.Live() && !fast.Live() &&
      (plain.report.code != fast.report.code || (strict && plain.report.sent_code != fast.report.sent_code))) {
    Violation("report codes differ", static_cast<long>(plain.report.code) * 10000 + fast.report.code);
  }
  if (strict) {
    if ((close[0] == nullptr) != (close[1] == nullptr) || (close[0] && close[0]->payload != close[1]->payload)) {
      Violation("close frames differ");
    }
    if (plain.Live() != fast.Live()) Violation("one session ended and the other did not");
    if (!plain.Live()) {
      const wslay_node::CloseReport& x = plain.report;
      const wslay_node::CloseReport& y = fast.report;
      if (x.was_clean != y.was_clean || x.reason != y.reason || x.unsent_messages != y.unsent_messages ||
          x.unsent_bytes != y.unsent_bytes) {
        Violation("reports differ");
      }
    }
  }
  return 0;
}
