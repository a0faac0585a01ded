// Opening FastCGI listening sockets (see listener.h).
#include "fcgi/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace tether::fcgi {
namespace {

std::string errstr(const std::string& what) { return what + ": " + strerror(errno); }

Result<int> open_unix(const std::string& path, int backlog) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return Result<int>::error("unix socket path too long: " + path);
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Result<int>::error(errstr("socket"));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    bool in_use = errno == EADDRINUSE;
    // In use: someone listening there, or a file left by a dead worker?
    int probe = in_use ? ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
    bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    if (probe >= 0) ::close(probe);
    if (!in_use || live) {
      std::string e = live ? "listen " + path + ": another process is listening there" : errstr("bind " + path);
      ::close(fd);
      return Result<int>::error(e);
    }
    ::unlink(path.c_str());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      std::string e = errstr("bind " + path);
      ::close(fd);
      return Result<int>::error(e);
    }
  }
  ::chmod(path.c_str(), 0660);
  if (::listen(fd, backlog) != 0) {
    std::string e = errstr("listen " + path);
    ::close(fd);
    return Result<int>::error(e);
  }
  return fd;
}

Result<int> open_tcp(const std::string& address, int backlog) {
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  int port = std::stoi(address.substr(colon + 1));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) return Result<int>::error("bad IPv4 address: " + host);
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Result<int>::error(errstr("socket"));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, backlog) != 0) {
    std::string e = errstr("listen " + address);
    ::close(fd);
    return Result<int>::error(e);
  }
  return fd;
}

}  // namespace

Result<int> open_listener(const std::string& address, int backlog) {
  if (address.rfind("unix:", 0) == 0) return open_unix(address.substr(5), backlog);
  return open_tcp(address, backlog);
}

void remove_listener_file(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) ::unlink(address.substr(5).c_str());
}

}  // namespace tether::fcgi
