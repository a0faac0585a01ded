// Redis: one hiredis connection with RAII ownership, connect/IO timeouts,
// AUTH (ACL user or password only) and SELECT applied again after every
// reconnect, and pipelining. Any I/O error drops the connection; the next
// call reconnects. With sentinels configured, every connect asks them
// where the master is and checks the node says it is one (sentinel.h); a
// READONLY reply (a demoted master) drops the connection too.
//
// Thread safety: none ("a redisContext is not thread-safe"): one Redis per
// thread that needs one.
#pragma once
#include <hiredis/hiredis.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "redis/options.h"

namespace tether {


struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

class Redis {
 public:
  explicit Redis(RedisOptions opts) : opts_(std::move(opts)) {}
  ~Redis() { close(); }
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  // Connects if not connected. The error says where and why.
  Status connect();
  bool connected() const { return ctx_ != nullptr; }
  // An idle connection whose peer has gone (Redis killed or restarted, a
  // failover's CLIENT KILL) reads as end-of-file with nothing asked: closes
  // it and returns true. connect() does this first, so the next command
  // reconnects instead of failing; callers that must know about a reconnect
  // (to load scripts, to write again what Redis may have lost) call it first.
  bool drop_if_closed();
  void close();

  // One command. A Redis error reply ("ERR ...", "NOSCRIPT ...") is an error
  // Result with that text; the connection stays up for those.
  Result<RedisReply> command(const std::vector<std::string>& argv);
  // Pipelining: queue commands, then read every reply in order. The result
  // holds one reply per command (error replies included, as replies).
  void append(const std::vector<std::string>& argv);
  Result<std::vector<RedisReply>> flush();
  size_t pending() const { return pending_; }

  const RedisOptions& options() const { return opts_; }
  const std::string& key(const std::string& suffix);  // prefix + suffix, in a reused buffer
  // For a subscribed connection: one reply, waiting at most timeout_ms.
  // A null reply means nothing (whole) came in time. Error when the
  // connection failed.
  Result<RedisReply> wait_reply(int timeout_ms);

  // The node this connection talks to (or last tried): "host:port".
  std::string address() const { return host_ + ":" + std::to_string(port_); }

 private:
  Status fail(const std::string& what);
  Status connect_to(const std::string& host, int port);
  Status connect_through_sentinels();

  RedisOptions opts_;
  std::string host_;
  int port_ = 0;
  size_t sentinel_next_ = 0;  // the sentinel to ask first (the last that answered)
  redisContext* ctx_ = nullptr;
  size_t pending_ = 0;
  std::string key_;
};

// Helpers to read replies.
std::string reply_string(const redisReply* r);  // string/status/integer as text, else ""
long long reply_integer(const redisReply* r);   // integer, or a numeric string; 0 otherwise

}  // namespace tether
