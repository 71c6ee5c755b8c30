// Syscalls on a non-blocking stream socket: EINTR retried, EAGAIN told apart from errors, never SIGPIPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

struct iovec;

namespace wslay_node {

enum class IoStatus { kOk, kWouldBlock, kEof, kError };

struct IoResult {
  IoStatus status;
  size_t bytes;  // bytes moved when status == kOk
  int error;     // errno when status == kError
};

IoResult ReadSome(int fd, uint8_t* buf, size_t len);
// Writes `a` then `b` with one syscall; either may be empty. A partial write is kOk with fewer bytes.
IoResult WriteSome(int fd, const uint8_t* a, size_t alen, const uint8_t* b = nullptr, size_t blen = 0);
// Writes `n` slices with one syscall (n <= IOV_MAX).
IoResult WriteSomeV(int fd, const struct iovec* slices, size_t n);

// Checks that `fd` is an open stream socket and makes it non-blocking. With `duplicate`, returns a close-on-exec
// copy the caller owns instead. Returns the fd to use, or -1 with `*error` set to a message for the user.
int AdoptSocketFd(int fd, bool duplicate, std::string* error);

// Fills `buf` from the OS's cryptographically strong source (masking keys, RFC 6455 §5.3).
bool FillRandom(uint8_t* buf, size_t len);

}  // namespace wslay_node
