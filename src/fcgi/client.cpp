// The FastCGI client side with pooled connections (see client.h).
#include "fcgi/client.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/net.h"
#include "fcgi/records.h"

namespace tether::fcgi {
namespace {

using net::Clock;
using net::ms_left;
using net::write_all;

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

ClientResult Client::call(const std::string& addr, const Params& params, std::string_view body, int quick_ms,
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
  ClientResult result;
  // A pooled connection may have been closed by the peer while idle: if it
  // fails before any byte comes back, try once more on a new connection.
  for (int attempt = 0; attempt < 2; ++attempt) {
    unique_fd fd = attempt == 0 ? take(addr) : unique_fd();
    bool reused = static_cast<bool>(fd);
    if (!reused) fd = net::connect_stream(addr, quick);
    if (!fd) {
      result.kind = ClientResult::Kind::Unreachable;
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
        result.kind = got_any ? ClientResult::Kind::Failed : ClientResult::Kind::NoAnswer;
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
      result.kind = got_any ? ClientResult::Kind::Failed : ClientResult::Kind::NoAnswer;
      result.error = got_any ? "the peer closed the connection before the reply ended"
                             : "the peer closed the connection without answering";
      return result;
    }
    give_back(addr, std::move(fd));
    auto parsed = parse_cgi_response(out);
    if (!parsed) {
      result.kind = ClientResult::Kind::Failed;
      result.error = "malformed reply: " + parsed.message();
      return result;
    }
    result.kind = ClientResult::Kind::Ok;
    result.response = std::move(parsed.value());
    return result;
  }
  return result;
}

}  // namespace tether::fcgi
