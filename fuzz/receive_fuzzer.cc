// libFuzzer target over the receive path: bytes in through a socketpair, events out, with the binding's own
// buffering, close handling, limits and permessage-deflate in the loop (native/session.cc on the system wslay).
// The host echoes what it receives (plainly or as a fragmented message), so the send path runs too.
//
// Input: byte 0 picks the configuration (bit 0 server, 1 no buffering, 2 deflate, 3 first bytes as the upgrade
// head, 4 echo as fragmented, 5 pause delivery inside callbacks, 6 deflate without context takeover, 7 small
// limits); byte 1 is the write chunk size; the rest is what the peer sends.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../native/session.h"

namespace {

using wslay_node::FragmentChunk;
using wslay_node::Session;
using wslay_node::SessionConfig;
using wslay_node::SessionHost;
using wslay_node::ThreadBuffers;

class EchoHost : public SessionHost {
 public:
  Session* session = nullptr;
  bool fragmented_echo = false;
  bool pause_in_callbacks = false;
  bool paused = false;
  std::vector<std::string*> sources;

  bool Wants(Event) override { return true; }

  void OnMessage(uint8_t, uint8_t opcode, const uint8_t* data, size_t len, uint16_t) override {
    if (opcode != WSLAY_TEXT_FRAME && opcode != WSLAY_BINARY_FRAME) return;
    if (fragmented_echo) {
      auto* rest = new std::string(reinterpret_cast<const char*>(data), len);
      if (session->QueueFragmented(rest, opcode, 0) == wslay_node::QueueResult::kOk) sources.push_back(rest);
      else delete rest;
    } else {
      session->Queue(opcode, data, len, 0);
    }
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
    auto* rest = static_cast<std::string*>(token);
    size_t n = std::min(len / 2 + 1, rest->size());  // chunks shorter than asked, so several frames go out
    chunk_.assign(*rest, 0, n);
    rest->erase(0, n);
    return {rest->empty() ? FragmentChunk::kEof : FragmentChunk::kData,
            reinterpret_cast<const uint8_t*>(chunk_.data()), chunk_.size()};
  }
  void ReleaseFragment(void* token) override {
    auto* rest = static_cast<std::string*>(token);
    for (auto& s : sources) {
      if (s == rest) s = nullptr;
    }
    delete rest;
  }
  bool CanDeliver() override { return true; }

 private:
  std::string chunk_;
};

void DrainPeer(int fd) {
  uint8_t sink[65536];
  while (::read(fd, sink, sizeof sink) > 0) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t flags = data[0];
  const size_t chunk = 1 + data[1] * 37;
  data += 2;
  size -= 2;

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 0;
  for (int fd : sv) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);

  SessionConfig config;
  config.server = flags & 1;
  config.buffering = !(flags & 2);
  config.deflate = flags & 4;
  config.deflate_params.compressNoContextTakeover = flags & 64;
  config.deflate_params.decompressNoContextTakeover = flags & 64;
  config.max_recv_size = (flags & 128) ? 4096 : (1 << 20);
  config.max_fragments = (flags & 128) ? 16 : 1024;
  config.max_pending_pongs = (flags & 128) ? 4 : 1024;
  config.deflate_threshold = (flags & 128) ? 0 : 64;

  ThreadBuffers buffers;
  EchoHost host;
  host.fragmented_echo = flags & 16;
  host.pause_in_callbacks = flags & 32;
  {
    Session session(config, &buffers, &host);
    host.session = &session;
    size_t head = (flags & 8) ? std::min(size, chunk) : 0;
    session.Attach(std::unique_ptr<wslay_node::Transport>(new wslay_node::FdTransport(sv[0])), data, head);
    size_t sent = head;
    // Feed the peer's bytes in chunks, stepping the session between them, until everything is consumed or the
    // session is over. Bounded: every round writes or steps at least once.
    for (int round = 0; round < 4096 && !session.IsOver(); ++round) {
      if (sent < size) {
        ssize_t n = ::write(sv[1], data + sent, std::min(chunk, size - sent));
        if (n > 0) sent += static_cast<size_t>(n);
      } else if (round > 0 && !session.HasPendingInput() && !(session.WantedEvents() & Session::kWritable)) {
        if (host.paused) {
          host.paused = false;
          session.SetReadPaused(false);
          continue;
        }
        break;
      }
      session.Step(true);
      DrainPeer(sv[1]);
      if (host.paused) {  // resume on the next round, as startRead() on a later tick would
        host.paused = false;
        session.SetReadPaused(false);
      }
    }
    wslay_node::CloseReport report = session.Report();
    (void)report;
    session.Close();  // closes sv[0]
  }
  ::close(sv[1]);
  return 0;
}
