// When a session holds a wslay context. A wslay 1.1.1 event context and its frame context are about 8.6 KB, nearly
// all of it two fixed 4 KiB buffers, and most connections of a server are idle most of the time. So a session
// allocates its context on its first byte in or message out, and a quiet one gives it back after a whole tick of
// the host's timer without activity (never in the middle of anything, so busy connections never pay for it).
// Between frames, with nothing queued and no close under way, a fresh context configured like the first behaves as
// the old one would: everything wslay keeps across frames (a fragmented message, a half-sent frame, a close, a
// shut direction, a sticky error) is excluded by Quiet().
#include <cerrno>

#include "session.h"

namespace wslay_node {

bool Session::Wake() {
  active_ = true;
  if (ctx_ != nullptr) return true;
  if (!dormant_) return false;  // closed
  dormant_ = false;
  if (CreateContext()) return true;
  // No memory for a context: the session ends (IsOver) with ENOMEM, on the host's next step.
  io_error_ = ENOMEM;
  fatal_ = true;
  host_->Wake();
  return false;
}

bool Session::Quiet() const {
  if (ctx_ == nullptr || !transport_ || in_recv_) return false;
  // Receiving: between frames (wslay has parsed all it got: it returns only once it asked for more), no message
  // begun, no input kept back from wslay, no events held for a paused reader.
  bool receive_idle = received_frames_.AtBoundary() && carry_.empty() && kept_offset_ >= kept_input_.size() &&
                      !in_message_ && held_.empty();
  // Sending: wslay's queues empty (its count includes a message half-sent), no frame half out, nothing of ours
  // waiting for the socket, no fragmented source.
  bool send_idle = wslay_event_get_queued_msg_count(ctx_) == 0 && sent_frames_.AtBoundary() && !send_mid_frame_ &&
                   !HasUnsentBytes() && transport_->Pending() == 0 && sources_.empty() && pongs_unsent_ == 0;
  // Open both ways, no close asked, sent or received, no failure: a new context starts in exactly that state.
  bool open = !close_requested_ && !close_queued_ && recv_code_ == 0 && fail_code_ == 0 && raw_close_sent_ == 0 &&
              !fatal_ && !terminated_ && !eof_ && io_error_ == 0 && !timed_out_ && !read_shut_ &&
              wslay_event_get_read_enabled(ctx_) && wslay_event_get_write_enabled(ctx_) &&
              !wslay_event_get_close_sent(ctx_) && !wslay_event_get_close_received(ctx_);
  return receive_idle && send_idle && open;
}

bool Session::ReleaseIfQuiet() {
  if (ctx_ == nullptr) return false;
  if (active_) {  // busy during this tick: asked again at the next one
    active_ = false;
    return false;
  }
  if (!Quiet()) return false;
  FreeContext();
  dormant_ = true;
  return true;
}

}  // namespace wslay_node
