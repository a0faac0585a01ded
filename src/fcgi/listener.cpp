// Opening FastCGI listening sockets (see listener.h).
#include "fcgi/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include "common/unique_fd.h"

namespace tether::fcgi {
namespace {

std::string errstr(const std::string& what) { return what + ": " + strerror(errno); }

// A number, or a name looked up with lookup(name) -> id or -1.
template <class Lookup>
Result<long> lookup_id(const std::string& name, const char* what, Lookup lookup) {
  if (name.empty()) return Result<long>::error(std::string("empty ") + what + " name");
  char* end = nullptr;
  long n = strtol(name.c_str(), &end, 10);
  if (*end == '\0' && n >= 0) return n;
  long id = lookup(name);
  if (id < 0) return Result<long>::error(std::string("no ") + what + " named \"" + name + "\" on this machine");
  return id;
}

// Creates the socket's directory and missing parents (mode 0755), as far
// as the process may; a failure shows as bind's error after.
void make_socket_dir(const std::string& path) {
  for (size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1)) {
    ::mkdir(path.substr(0, slash).c_str(), 0755);
  }
}

// Gives the socket file its owner, group and mode.
Status set_access(const std::string& path, const ListenOptions& o) {
  long uid = -1, gid = -1;
  if (!o.owner.empty()) {
    auto u = lookup_user(o.owner);
    if (!u) return Status::error("listen_owner: " + u.message());
    uid = *u;
  }
  if (!o.group.empty()) {
    auto g = lookup_group(o.group);
    if (!g) return Status::error("listen_group: " + g.message());
    gid = *g;
  }
  if ((uid >= 0 || gid >= 0) &&
      ::chown(path.c_str(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)) != 0) {
    return Status::error(errstr("chown " + path + " to listen_owner/listen_group"));
  }
  if (::chmod(path.c_str(), o.mode) != 0) return Status::error(errstr("chmod " + path));
  return Status::ok();
}

Result<int> open_unix(const std::string& path, const ListenOptions& opt) {
  const int backlog = opt.backlog;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return Result<int>::error("unix socket path too long: " + path);
  memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Result<int>::error(errstr("socket"));
  int bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (bound != 0 && errno == ENOENT) {
    make_socket_dir(path);
    bound = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  if (bound != 0) {
    bool in_use = errno == EADDRINUSE;
    // In use: someone listening there, or a file left by a dead worker?
    bool live = false;
    if (in_use) {
      unique_fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      live = probe && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    }
    if (!in_use || live) {
      return Result<int>::error(live ? "listen " + path + ": another process is listening there"
                                     : errstr("bind " + path));
    }
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      return Result<int>::error(errstr("bind " + path));
    }
  }
  if (Status s = set_access(path, opt); !s) {
    ::unlink(path.c_str());
    return Result<int>::error(s.message());
  }
  if (::listen(fd.get(), backlog) != 0) return Result<int>::error(errstr("listen " + path));
  return fd.release();
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
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Result<int>::error(errstr("socket"));
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd.get(), backlog) != 0) {
    return Result<int>::error(errstr("listen " + address));
  }
  return fd.release();
}

}  // namespace

Result<int> open_listener(const std::string& address, const ListenOptions& options) {
  if (address.rfind("unix:", 0) == 0) return open_unix(address.substr(5), options);
  return open_tcp(address, options.backlog);
}

Result<int> open_listener(const std::string& address, int backlog) {
  ListenOptions o;
  o.backlog = backlog;
  return open_listener(address, o);
}

std::string running_as() {
  uid_t uid = ::geteuid();
  std::vector<char> buf(16384);
  passwd pw{}, *found = nullptr;
  std::string name = getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found ? pw.pw_name : "?";
  return "user " + name + " (uid " + std::to_string(uid) + ")";
}

Status check_listener(const std::string& address, const ListenOptions& o) {
  if (address.rfind("unix:", 0) != 0) return Status::ok();
  if (!o.owner.empty()) {
    if (auto u = lookup_user(o.owner); !u) return Status::error("listen_owner: " + u.message());
  }
  if (!o.group.empty()) {
    if (auto g = lookup_group(o.group); !g) return Status::error("listen_group: " + g.message());
  }
  std::string path = address.substr(5);
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  // The nearest directory that exists must let this user create entries.
  std::string probe = dir;
  while (::access(probe.c_str(), F_OK) != 0 && probe.size() > 1) {
    size_t up = probe.rfind('/');
    probe = up == std::string::npos ? "." : (up == 0 ? "/" : probe.substr(0, up));
  }
  if (::access(probe.c_str(), W_OK | X_OK) != 0) {
    return Status::error("listen: " + (probe == dir ? "socket directory " + dir + " is not writable"
                                                   : dir + " is missing and " + probe + " is not writable") +
                         " as " + running_as() + " (create it, e.g. with the tmpfiles.d entry)");
  }
  return Status::ok();
}

Result<long> lookup_user(const std::string& name) {
  return lookup_id(name, "user", [](const std::string& n) -> long {
    std::vector<char> buf(16384);
    passwd pw{}, *found = nullptr;
    return getpwnam_r(n.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found ? long(pw.pw_uid) : -1L;
  });
}

Result<long> lookup_group(const std::string& name) {
  return lookup_id(name, "group", [](const std::string& n) -> long {
    std::vector<char> buf(65536);
    group gr{}, *found = nullptr;
    return getgrnam_r(n.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found ? long(gr.gr_gid) : -1L;
  });
}

void remove_listener_file(const std::string& address) {
  if (address.rfind("unix:", 0) == 0) ::unlink(address.substr(5).c_str());
}

}  // namespace tether::fcgi
