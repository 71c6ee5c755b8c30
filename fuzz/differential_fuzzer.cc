// libFuzzer target comparing the receive fast path (native/frame_scanner.h) with the plain wslay path: the same
// peer bytes, cut at the same points, go into two server Sessions, one with plain_wslay set, and everything the
// sessions do must be identical: the events (messages with their rsv, opcode, close status and bytes; frame
// start/chunk/end callbacks), the bytes they write (echoes, pongs, close frames) and the CloseReport.
// The transport is in memory, so both sessions are offered exactly the same bytes at the same turns.
//
// Input:
//   byte 0  bit 0 permessage-deflate, 1 small limits (maxRecvSize 4096, 16 fragments, a 6 KiB receive budget),
//           2 frame callbacks, 3 no buffering, 4 echo data messages (unless 5), 5 stopRead() inside every third
//           message callback (startRead() on the next round), 6 the first piece as the upgrade head, 7 EOF at the end
//   byte 1  deflate: bits 0-2 the peer's window - 8, bit 3 the peer without context takeover; bit 4 allowedRsv
//           RSV1 without deflate (a user's extension)
//   byte 2  K, the number of piece sizes (0: one piece); then K bytes, each a piece size 1 + b * b, used in turn;
//           then the peer's bytes.
// A difference aborts with both logs (FUZZ_DEBUG=1 prints them always).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../native/session.h"

namespace {

using wslay_node::CloseReport;
using wslay_node::FragmentChunk;
using wslay_node::IoResult;
using wslay_node::IoStatus;
using wslay_node::Session;
using wslay_node::SessionConfig;
using wslay_node::SessionHost;
using wslay_node::ThreadBuffers;

// The peer's side of an in-memory socket.
struct Pipe {
  std::string in;  // bytes the session has not read yet
  size_t in_offset = 0;
  bool eof = false;
  std::string out;  // everything the session wrote
};

class MemoryTransport final : public wslay_node::Transport {
 public:
  explicit MemoryTransport(Pipe* pipe) : pipe_(pipe) {}
  IoResult Read(uint8_t* buf, size_t len) override {
    size_t avail = pipe_->in.size() - pipe_->in_offset;
    if (avail == 0) return {pipe_->eof ? IoStatus::kEof : IoStatus::kWouldBlock, 0, 0};
    size_t n = std::min(avail, len);
    std::memcpy(buf, pipe_->in.data() + pipe_->in_offset, n);
    pipe_->in_offset += n;
    return {IoStatus::kOk, n, 0};
  }
  IoResult WriteV(const struct iovec* slices, size_t n) override {
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      pipe_->out.append(static_cast<const char*>(slices[i].iov_base), slices[i].iov_len);
      total += slices[i].iov_len;
    }
    return {IoStatus::kOk, total, 0};
  }

 private:
  Pipe* pipe_;
};

class LogHost : public SessionHost {
 public:
  LogHost(bool frame_callbacks, bool echo, bool pause_every_third)
      : frame_callbacks_(frame_callbacks), echo_(echo), pause_every_third_(pause_every_third) {}
  Session* session = nullptr;
  std::string log;
  bool paused = false;

  bool Wants(Event event) override { return event == kMessage || frame_callbacks_; }
  void OnMessage(uint8_t rsv, uint8_t opcode, const uint8_t* data, size_t len, uint16_t status) override {
    char head[64];
    std::snprintf(head, sizeof head, "M rsv=%u op=%u status=%u len=%zu:", rsv, opcode, status, len);
    log += head;
    log.append(reinterpret_cast<const char*>(data), len);
    log += '\n';
    if (echo_ && (opcode == 1 || opcode == 2)) {
      auto r = session->Queue(opcode, data, len, 0);
      log += "queued " + std::to_string(static_cast<int>(r)) + "\n";
    }
    if (pause_every_third_ && ++messages_ % 3 == 0) {
      session->SetReadPaused(true);
      paused = true;
    }
  }
  void OnFrameStart(bool fin, uint8_t rsv, uint8_t opcode, uint64_t length) override {
    log += "FS fin=" + std::to_string(fin) + " rsv=" + std::to_string(rsv) + " op=" + std::to_string(opcode) +
           " len=" + std::to_string(length) + "\n";
  }
  void OnFrameChunk(const uint8_t* data, size_t len) override {
    log += "FC " + std::to_string(len) + ":";
    log.append(reinterpret_cast<const char*>(data), len);
    log += '\n';
  }
  void OnFrameEnd() override { log += "FE\n"; }
  int CustomMask(uint8_t*, size_t) override { return 0; }
  FragmentChunk ReadFragment(void*, size_t) override { return {FragmentChunk::kEof, nullptr, 0}; }
  void ReleaseFragment(void*) override {}
  bool CanDeliver() override { return true; }

 private:
  const bool frame_callbacks_, echo_, pause_every_third_;
  uint32_t messages_ = 0;
};

struct Side {
  Side(const SessionConfig& config, bool frame_callbacks, bool echo, bool pause, uint64_t budget)
      : host(frame_callbacks, echo, pause), session(config, &buffers, &host) {
    host.session = &session;
    if (budget) buffers.receive_budget.set_limit(budget);
  }
  ThreadBuffers buffers;
  Pipe pipe;
  LogHost host;
  Session session;

  void Step() {
    if (host.paused) {  // startRead() on the next turn
      host.paused = false;
      session.SetReadPaused(false);
    }
    session.Step(true);
  }
  bool HasWork() const {
    return session.HasPendingInput() || (session.WantedEvents() & Session::kWritable) ||
           ((session.WantedEvents() & Session::kReadable) && (pipe.in_offset < pipe.in.size() || pipe.eof)) ||
           host.paused;
  }
  std::string Summary() {
    CloseReport r = session.Report();
    char s[256];
    std::snprintf(s, sizeof s, "code=%u reason_len=%zu clean=%d sent=%u unsent=%zu/%zu error=%d timed_out=%d over=%d",
                  r.code, r.reason.size(), r.was_clean, r.sent_code, r.unsent_messages, r.unsent_bytes, r.error,
                  r.timed_out, session.IsOver());
    return std::string(s) + " reason=" + r.reason;
  }
};

void Dump(const char* name, const std::string& s) {
  std::fprintf(stderr, "--- %s (%zu bytes)\n", name, s.size());
  for (unsigned char c : s.substr(0, 4000)) {
    if (c == '\n' || (c >= 32 && c < 127)) std::fputc(c, stderr);
    else std::fprintf(stderr, "\\x%02x", c);
  }
  std::fputc('\n', stderr);
}

[[noreturn]] void Differ(const char* what, Side& plain, Side& fast) {
  std::fprintf(stderr, "differential_fuzzer: the paths differ in %s\n", what);
  Dump("plain log", plain.host.log);
  Dump("fast log", fast.host.log);
  std::fprintf(stderr, "plain: %s\nfast:  %s\n", plain.Summary().c_str(), fast.Summary().c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t flags = data[0];
  const uint8_t params = data[1];
  const size_t k = std::min<size_t>(data[2], size - 3);
  const uint8_t* pieces = data + 3;
  const uint8_t* input = pieces + k;
  const size_t input_len = size - 3 - k;

  SessionConfig config;
  config.server = true;
  config.deflate = flags & 1;
  config.buffering = !(flags & 8);
  config.deflate_params.decompressWindowBits = 8 + (params & 7);
  config.deflate_params.decompressNoContextTakeover = params & 8;
  if (!config.deflate && (params & 16)) config.allowed_rsv = WSLAY_RSV1_BIT;
  const bool small = flags & 2;
  config.max_recv_size = small ? 4096 : (1 << 20);
  config.max_fragments = small ? 16 : 1024;
  const uint64_t budget = small ? 6144 : 0;
  // Not both echo and pause: after stopRead() plain wslay still parses the frames it holds (up to 4 KiB), and one
  // of them may fail the connection before the held messages are delivered, so an echo queued from those callbacks
  // is refused there; the fast path hands wslay one fast frame per recv and parses nothing past a stopRead().
  const bool frame_callbacks = flags & 4, pause = flags & 32, echo = (flags & 16) && !pause;

  SessionConfig plain_config = config;
  plain_config.plain_wslay = true;
  Side plain(plain_config, frame_callbacks, echo, pause, budget);
  Side fast(config, frame_callbacks, echo, pause, budget);
  if (!plain.session.ok() || !fast.session.ok()) return 0;

  size_t at = 0, piece = 0;
  auto next_piece = [&]() -> size_t {
    size_t n = k == 0 ? input_len : 1 + size_t{pieces[piece % k]} * pieces[piece % k];
    ++piece;
    return std::min(n, input_len - at);
  };
  size_t head = (flags & 64) ? next_piece() : 0;
  for (Side* side : {&plain, &fast}) {
    side->session.Attach(std::unique_ptr<wslay_node::Transport>(new MemoryTransport(&side->pipe)), input, head);
  }
  at = head;
  // The same pieces to both, a step each after every piece; then the end (EOF if asked) and steps until neither
  // has work. The logs are compared at the end only: a header cut across reads can make plain wslay stop its recv
  // loop one turn earlier (it asks for the rest once per header state), which moves events to a later turn of the
  // loop but not in their order.
  for (int round = 0; round < 8192 && at < input_len; ++round) {
    size_t n = next_piece();
    for (Side* side : {&plain, &fast}) side->pipe.in.append(reinterpret_cast<const char*>(input + at), n);
    at += n;
    if (plain.session.IsOver() && fast.session.IsOver()) break;
    plain.Step();
    fast.Step();
  }
  if (flags & 128) plain.pipe.eof = fast.pipe.eof = true;
  for (int round = 0; round < 1024 && (plain.HasWork() || fast.HasWork()); ++round) {
    plain.Step();
    fast.Step();
  }
  // Events held by a stopRead() that the end overtook: delivered before the end is reported, as Connection does.
  for (Side* side : {&plain, &fast}) {
    for (int i = 0; i < 1024 && side->session.HasHeldEvents(); ++i) {
      side->host.paused = false;
      side->session.SetReadPaused(false);
      side->session.DeliverHeld();
    }
  }
  if (plain.host.log != fast.host.log) Differ("events", plain, fast);
  if (plain.pipe.out != fast.pipe.out) Differ("bytes written", plain, fast);
  if (plain.Summary() != fast.Summary()) Differ("the close report", plain, fast);
  if (std::getenv("FUZZ_DEBUG")) {
    Dump("log", plain.host.log);
    std::fprintf(stderr, "%s\n", plain.Summary().c_str());
  }
  return 0;
}
