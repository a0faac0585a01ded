// The FastCGI client side with pooled connections (see client.h).
#include "fcgi/client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "fcgi/records.h"

namespace tether::fcgi {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

// Non-blocking connect bounded by deadline. Empty on failure (errno set).
unique_fd open_connection(const std::string& addr, Clock::time_point deadline) {
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

bool write_all(int fd, const std::string& data, Clock::time_point deadline) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
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

}  // namespace

Client::~Client() = default;  // the idle connections close with the pool

unique_fd Client::take(const std::string& addr) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(addr);
  if (it == idle_.end() || it->second.empty()) return {};
  unique_fd fd = std::move(it->second.back());
  it->second.pop_back();
  return fd;
}

void Client::give_back(const std::string& addr, unique_fd fd) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& fds = idle_[addr];
  if (fds.size() >= max_idle_) return;  // the pool is full: fd closes here
  fds.push_back(std::move(fd));
}

void Client::forget(const std::string& addr) {
  std::vector<unique_fd> gone;  // closed after the lock is let go
  std::lock_guard<std::mutex> lock(mu_);
  auto it = idle_.find(addr);
  if (it == idle_.end()) return;
  gone = std::move(it->second);
  idle_.erase(it);
}

CallResult Client::call(const std::string& addr, const Params& params, std::string_view body, int quick_ms,
                            int total_ms) {
  std::string wire;
  append_begin(wire, 1, true);
  std::string pairs;
  for (const auto& [k, v] : params) append_name_value(pairs, k, v);
  append_stream(wire, kParams, 1, pairs);
  append_stream(wire, kStdin, 1, body);

  auto start = Clock::now();
  auto quick = start + std::chrono::milliseconds(quick_ms);
  auto total = start + std::chrono::milliseconds(total_ms);
  CallResult result;
  // A pooled connection may have been closed by the peer while idle: if it
  // fails before any byte comes back, try once more on a new connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    unique_fd fd = attempt == 0 ? take(addr) : unique_fd();
    bool reused = static_cast<bool>(fd);
    if (!reused) fd = open_connection(addr, quick);
    if (!fd) {
      result.kind = CallResult::Kind::Unreachable;
      result.error = std::string("connect ") + addr + ": " + strerror(errno);
      return result;
    }
    bool got_any = false;
    std::string out;
    RecordReader reader;
    bool done = false, broken = !write_all(fd.get(), wire, quick);
    while (!broken && !done) {
      pollfd p{fd.get(), POLLIN, 0};
      int ready = ::poll(&p, 1, ms_left(got_any ? total : quick));
      if (ready != 1) {
        result.kind = got_any ? CallResult::Kind::Failed : CallResult::Kind::NoAnswer;
        result.error = got_any ? "reply took longer than the request timeout" : "no answer within the quick timeout";
        return result;  // fd closes
      }
      char buf[65536];
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        broken = true;
        break;
      }
      got_any = true;
      reader.feed(buf, static_cast<size_t>(n));
      Record rec;
      for (RecordReader::Next next; (next = reader.next(&rec)) != RecordReader::Next::NeedMore;) {
        if (next == RecordReader::Next::Bad) {
          broken = true;
          break;
        }
        if (rec.id != 1) continue;
        if (rec.type == kStdout) out += rec.content;
        if (rec.type == kEndRequest) done = true;  // STDERR (the ack) is not relayed
      }
    }
    if (!done) {
      fd.reset();
      if (reused && !got_any) continue;
      // Not even the ack came back: the peer never started the request.
      result.kind = got_any ? CallResult::Kind::Failed : CallResult::Kind::NoAnswer;
      result.error = got_any ? "the peer closed the connection before the reply ended"
                             : "the peer closed the connection without answering";
      return result;
    }
    give_back(addr, std::move(fd));
    auto parsed = parse_cgi_response(out);
    if (!parsed) {
      result.kind = CallResult::Kind::Failed;
      result.error = "malformed reply: " + parsed.message();
      return result;
    }
    result.kind = CallResult::Kind::Ok;
    result.response = std::move(parsed.value());
    return result;
  }
  return result;
}

}  // namespace tether::fcgi
