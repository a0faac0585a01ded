// Stream socket helpers (see net.h).
#include "common/net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace tether::net {

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

unique_fd connect_stream(const std::string& addr, Clock::time_point deadline) {
  sockaddr_storage ss{};
  socklen_t len;
  int family;
  if (addr.rfind("unix:", 0) == 0) {
    auto* sa = reinterpret_cast<sockaddr_un*>(&ss);
    std::string path = addr.substr(5);
    if (path.size() >= sizeof sa->sun_path) return {};
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path.c_str(), path.size() + 1);
    len = sizeof(sockaddr_un);
    family = AF_UNIX;
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&ss);
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) return {};
    sa->sin_family = AF_INET;
    sa->sin_port = htons(static_cast<uint16_t>(atoi(addr.c_str() + colon + 1)));
    if (inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa->sin_addr) != 1) return {};
    len = sizeof(sockaddr_in);
    family = AF_INET;
  }
  unique_fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return {};
  if (family == AF_INET) {
    int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) return {};  // fd closes; errno is kept
    pollfd p{fd.get(), POLLOUT, 0};
    int err = 0;
    socklen_t elen = sizeof err;
    if (::poll(&p, 1, ms_left(deadline)) != 1 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
        err != 0) {
      errno = err != 0 ? err : ETIMEDOUT;
      return {};
    }
  }
  return fd;
}

bool write_all(int fd, std::string_view data, Clock::time_point deadline) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, ms_left(deadline)) != 1) return false;
      continue;
    }
    return false;
  }
  return true;
}

ReadStatus read_exact(int fd, char* out, size_t n, Clock::time_point deadline) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::recv(fd, out + got, n - got, MSG_DONTWAIT);
    if (r > 0) {
      got += static_cast<size_t>(r);
      continue;
    }
    if (r == 0) return got == 0 ? ReadStatus::Closed : ReadStatus::Broken;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return ReadStatus::Broken;
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, ms_left(deadline));
    if (ready == 0) return ReadStatus::Timeout;
    if (ready < 0 && errno != EINTR) return ReadStatus::Broken;
  }
  return ReadStatus::Ok;
}

}  // namespace tether::net
