// hiredis connection wrapper (see redis.h).
#include "redis/redis.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <string_view>
#include <sys/time.h>

#include "redis/sentinel.h"

namespace tether {
namespace {

timeval to_timeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

void argv_arrays(const std::vector<std::string>& argv, std::vector<const char*>* ptrs, std::vector<size_t>* lens) {
  ptrs->reserve(argv.size());
  lens->reserve(argv.size());
  for (const auto& a : argv) {
    ptrs->push_back(a.data());
    lens->push_back(a.size());
  }
}

bool demoted(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR && r->len >= 8 && std::string_view(r->str, 8) == "READONLY";
}

}  // namespace

std::string reply_string(const redisReply* r) {
  if (r == nullptr) return "";
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR) {
    return std::string(r->str, r->len);
  }
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return "";
}

long long reply_integer(const redisReply* r) {
  if (r == nullptr) return 0;
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  if (r->type == REDIS_REPLY_STRING) return atoll(r->str);
  return 0;
}

Status Redis::fail(const std::string& what) {
  std::string msg = "redis " + address() + ": " + what;
  if (ctx_ != nullptr && ctx_->err) msg += ": " + std::string(ctx_->errstr);
  close();
  return Status::error(msg);
}

void Redis::close() {
  if (ctx_ != nullptr) redisFree(ctx_);
  ctx_ = nullptr;
  pending_ = 0;
}

bool Redis::drop_if_closed() {
  // Not mid-pipeline (append): closing there would drop the commands appended before.
  if (ctx_ == nullptr || pending_ != 0) return false;
  char byte;
  ssize_t n = ::recv(ctx_->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // Data waiting (a subscriber's message) is not a close: only EOF or an error is.
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    close();
    return true;
  }
  return false;
}

Status Redis::connect() {
  drop_if_closed();  // reconnect (and re-resolve) rather than fail the next command
  if (ctx_ != nullptr) return Status::ok();
  if (!opts_.sentinels.empty()) return connect_through_sentinels();
  return connect_to(opts_.host, opts_.port);
}

Status Redis::connect_through_sentinels() {
  std::string tried;
  const size_t n = opts_.sentinels.size();
  for (size_t i = 0; i < n; ++i) {
    size_t k = (sentinel_next_ + i) % n;
    const std::string& sentinel = opts_.sentinels[k];
    auto master = ask_sentinel(opts_, sentinel);
    if (!master) {
      tried += "; sentinel " + sentinel + ": " + master.message();
      continue;
    }
    if (Status s = connect_to(master->host, master->port); !s) {
      tried += "; sentinel " + sentinel + " named " + s.message();
      continue;
    }
    auto role = command({"ROLE"});
    if (!role || !reply_says_master(role->get())) {
      tried += "; sentinel " + sentinel + " named " + address() + ", which is not a master (yet)";
      close();
      continue;
    }
    sentinel_next_ = k;
    return Status::ok();
  }
  return Status::error("redis: no sentinel named a reachable master '" + opts_.master + "'" + tried);
}

Status Redis::connect_to(const std::string& host, int port) {
  host_ = host;
  port_ = port;
  ctx_ = redisConnectWithTimeout(host.c_str(), port, to_timeval(opts_.connect_timeout_ms));
  if (ctx_ == nullptr) return Status::error("redis: out of memory");
  if (ctx_->err) return fail("connect");
  if (redisSetTimeout(ctx_, to_timeval(opts_.io_timeout_ms)) != REDIS_OK) return fail("set timeout");
  redisEnableKeepAlive(ctx_);
  if (!opts_.password.empty()) {
    auto r = opts_.username.empty() ? command({"AUTH", opts_.password})
                                    : command({"AUTH", opts_.username, opts_.password});
    if (!r) return fail("AUTH refused (" + r.message() + ")");
  }
  if (opts_.db != 0) {
    auto r = command({"SELECT", std::to_string(opts_.db)});
    if (!r) return fail("SELECT " + std::to_string(opts_.db) + " refused");
  }
  return Status::ok();
}

Result<RedisReply> Redis::command(const std::vector<std::string>& argv) {
  if (Status s = connect(); !s) return s;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  argv_arrays(argv, &ptrs, &lens);
  RedisReply reply(static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
  if (!reply) return fail(argv.empty() ? "command" : argv[0]);
  if (reply->type == REDIS_REPLY_ERROR) {
    std::string error(reply->str, reply->len);
    if (demoted(reply.get())) close();  // a replica now: the next call finds the master
    return Status::error(error);
  }
  return reply;
}

void Redis::append(const std::vector<std::string>& argv) {
  if (!connect()) return;  // flush() reports the error
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  argv_arrays(argv, &ptrs, &lens);
  if (redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) == REDIS_OK) {
    ++pending_;
  }
}

Result<std::vector<RedisReply>> Redis::flush() {
  if (ctx_ == nullptr) return fail("not connected");
  std::vector<RedisReply> out;
  out.reserve(pending_);
  while (pending_ > 0) {
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return fail("pipeline");
    --pending_;
    out.emplace_back(static_cast<redisReply*>(raw));
  }
  for (const auto& r : out) {
    if (demoted(r.get())) {
      close();  // a replica now: the next call finds the master
      break;
    }
  }
  return out;
}

Result<RedisReply> Redis::wait_reply(int timeout_ms) {
  if (ctx_ == nullptr) return Status::error("redis: not connected");
  void* raw = nullptr;
  if (redisReaderGetReply(ctx_->reader, &raw) != REDIS_OK) return fail("read");
  if (raw == nullptr) {
    pollfd p{ctx_->fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) == 0) return RedisReply();
    if (redisBufferRead(ctx_) != REDIS_OK) return fail("read");
    if (redisReaderGetReply(ctx_->reader, &raw) != REDIS_OK) return fail("read");
  }
  return RedisReply(static_cast<redisReply*>(raw));
}

const std::string& Redis::key(const std::string& suffix) {
  key_ = opts_.prefix;
  key_ += suffix;
  return key_;
}

}  // namespace tether
