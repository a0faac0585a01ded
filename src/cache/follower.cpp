// The bus:log stream reader (see follower.h).
#include "cache/follower.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "common/log.h"

namespace tether {
namespace {

constexpr int kBatch = 100;

std::pair<unsigned long long, unsigned long long> split_id(const std::string& id) {
  size_t dash = id.find('-');
  unsigned long long ms = strtoull(id.c_str(), nullptr, 10);
  unsigned long long seq = dash == std::string::npos ? 0 : strtoull(id.c_str() + dash + 1, nullptr, 10);
  return {ms, seq};
}

}  // namespace

int compare_stream_ids(const std::string& a, const std::string& b) {
  auto x = split_id(a), y = split_id(b);
  return x < y ? -1 : (x == y ? 0 : 1);
}

Follower::Follower(RedisOptions opts, Millis stale_after_ms, const Clock& clock, Hooks hooks)
    : opts_(std::move(opts)), stale_after_ms_(stale_after_ms), clock_(clock), hooks_(std::move(hooks)) {}

Follower::~Follower() { stop(); }

void Follower::start() { thread_ = std::thread([this] { loop(); }); }

void Follower::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

bool Follower::fresh() const {
  return stats_.caught_up.load() && clock_.now_ms() - last_contact_ms_.load() <= stale_after_ms_;
}

bool Follower::position(Redis& redis) {
  stats_.caught_up = false;  // until the backlog is read; fresh() also ages out while away
  if (last_id_.empty()) {
    // A fresh start: the cache is empty, so only what comes next matters.
    auto r = redis.command({"XREVRANGE", key(), "+", "-", "COUNT", "1"});
    if (!r) return false;
    const redisReply* a = r.value().get();
    last_id_ = a->type == REDIS_REPLY_ARRAY && a->elements > 0 ? reply_string(a->element[0]->element[0]) : "0-0";
    hooks_.resync(redis, false);
    last_contact_ms_ = clock_.now_ms();
    stats_.caught_up = true;  // nothing before last_id_ concerns an empty cache
    return true;
  }
  auto info = redis.command({"XINFO", "STREAM", key()});
  if (!info) {
    if (info.message().find("no such key") != std::string::npos) return true;  // nothing was ever trimmed
    return false;
  }
  const redisReply* a = info.value().get();
  for (size_t i = 0; a->type == REDIS_REPLY_ARRAY && i + 1 < a->elements; i += 2) {
    if (reply_string(a->element[i]) != "max-deleted-entry-id") continue;
    if (compare_stream_ids(reply_string(a->element[i + 1]), last_id_) > 0) {
      stats_.lost_track++;
      log::warn("cache_lost_track", {{"last_read", last_id_}, {"effect", "every cached entry dropped"}});
      hooks_.resync(redis, true);
    }
  }
  return true;
}

void Follower::read(Redis& redis) {
  // Block for less than the I/O timeout, so a quiet stream is not an error.
  const int block_ms = std::clamp(opts_.io_timeout_ms / 2, 10, 500);
  while (!stopping_) {
    auto r = redis.command({"XREAD", "COUNT", std::to_string(kBatch), "BLOCK", std::to_string(block_ms), "STREAMS",
                            key(), last_id_});
    if (!r) return;
    last_contact_ms_ = clock_.now_ms();
    const redisReply* a = r.value().get();
    size_t n = 0;
    if (a->type == REDIS_REPLY_ARRAY && a->elements > 0) {
      const redisReply* entries = a->element[0]->element[1];
      n = entries->elements;
      for (size_t i = 0; i < n; ++i) {
        const redisReply* e = entries->element[i];
        std::map<std::string, std::string> fields;
        const redisReply* kv = e->element[1];
        for (size_t j = 0; j + 1 < kv->elements; j += 2) fields[reply_string(kv->element[j])] = reply_string(kv->element[j + 1]);
        last_id_ = reply_string(e->element[0]);
        stats_.entries++;
        hooks_.entry(fields, redis);
      }
    }
    if (n < kBatch) stats_.caught_up = true;
  }
}

void Follower::loop() {
  int backoff_ms = 100;
  bool down = false;
  while (!stopping_) {
    Redis redis(opts_);
    Status s = redis.connect();
    if (s && position(redis)) {
      if (down) log::info("cache_follower_up", {{"from", last_id_}});
      down = false;
      backoff_ms = 100;
      read(redis);
      if (stopping_) break;
    }
    if (!down) {
      stats_.outages++;
      log::warn("cache_follower_down", {{"error", s ? "connection lost" : s.message()}});
    }
    down = true;
    for (int waited = 0; waited < backoff_ms && !stopping_; waited += 50) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // backoff, stop-aware
    }
    backoff_ms = std::min(backoff_ms * 2, 2000);
  }
}

}  // namespace tether
