#include "socket_io.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#else
#include <stdlib.h>  // arc4random_buf
#endif

namespace wslay_node {

namespace {
#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;  // macOS: SO_NOSIGPIPE is set on the socket instead
#endif

bool IsWouldBlock(int e) { return e == EAGAIN || e == EWOULDBLOCK; }
}  // namespace

IoResult ReadSome(int fd, uint8_t* buf, size_t len) {
  for (;;) {
    ssize_t n = ::recv(fd, buf, len, 0);
    if (n > 0) return {IoStatus::kOk, static_cast<size_t>(n), 0};
    if (n == 0) return {IoStatus::kEof, 0, 0};
    if (errno == EINTR) continue;
    if (IsWouldBlock(errno)) return {IoStatus::kWouldBlock, 0, 0};
    return {IoStatus::kError, 0, errno};
  }
}

IoResult WriteSome(int fd, const uint8_t* a, size_t alen, const uint8_t* b, size_t blen) {
  struct iovec iov[2];
  int n = 0;
  if (alen) iov[n++] = {const_cast<uint8_t*>(a), alen};
  if (blen) iov[n++] = {const_cast<uint8_t*>(b), blen};
  return WriteSomeV(fd, iov, n);
}

IoResult WriteSomeV(int fd, const struct iovec* slices, size_t n) {
  if (n == 0) return {IoStatus::kOk, 0, 0};
  struct msghdr msg;
  std::memset(&msg, 0, sizeof msg);
  msg.msg_iov = const_cast<struct iovec*>(slices);
  msg.msg_iovlen = n;
  for (;;) {
    ssize_t w = ::sendmsg(fd, &msg, kSendFlags);
    if (w >= 0) return {IoStatus::kOk, static_cast<size_t>(w), 0};
    if (errno == EINTR) continue;
    if (IsWouldBlock(errno)) return {IoStatus::kWouldBlock, 0, 0};
    return {IoStatus::kError, 0, errno};
  }
}

int AdoptSocketFd(int fd, bool duplicate, std::string* error) {
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    *error = "fd " + std::to_string(fd) + " is not an open file descriptor";
    return -1;
  }
  if (!S_ISSOCK(st.st_mode)) {
    *error = "fd " + std::to_string(fd) + " is not a socket";
    return -1;
  }
  int type = 0;
  socklen_t type_len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) != 0 || type != SOCK_STREAM) {
    *error = "fd " + std::to_string(fd) + " is not a stream socket";
    return -1;
  }
  int own = fd;
  if (duplicate) {
    own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
      *error = std::string("cannot duplicate the socket fd: ") + std::strerror(errno);
      return -1;
    }
  }
  int flags = ::fcntl(own, F_GETFL);
  if (flags < 0 || (!(flags & O_NONBLOCK) && ::fcntl(own, F_SETFL, flags | O_NONBLOCK) != 0)) {
    *error = std::string("cannot make the socket non-blocking: ") + std::strerror(errno);
    if (duplicate) ::close(own);
    return -1;
  }
#ifdef SO_NOSIGPIPE
  int one = 1;
  ::setsockopt(own, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return own;
}

bool FillRandom(uint8_t* buf, size_t len) {
#if defined(__linux__)
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::getrandom(buf + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
#else
  arc4random_buf(buf, len);
  return true;
#endif
}

}  // namespace wslay_node
