// The bus:log stream reader (see follower.h).
#include "cache/follower.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "common/firewall.h"
#include "common/log.h"
#include "redis/backoff.h"
#include "redis/reply.h"

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
    auto entries = decode_stream_entries(r.value().get());
    if (!entries) {
      firewall::refused("cache.bad_stream_entry", entries.message());
      return false;
    }
    last_id_ = entries->empty() ? "0-0" : entries->front().id;
    firewall::guard("cache.follower.resync", [&] { hooks_.resync(redis, false); });
    last_contact_ms_ = clock_.now_ms();
    stats_.caught_up = true;  // nothing before last_id_ concerns an empty cache
    return true;
  }
  auto lost_track = [&](const char* why) {
    stats_.lost_track++;
    log::warn("cache_lost_track", {{"last_read", last_id_}, {"why", why}, {"effect", "every cached entry dropped"}});
    firewall::guard("cache.follower.resync", [&] { hooks_.resync(redis, true); });
  };
  auto info = redis.command({"XINFO", "STREAM", key()});
  if (!info) {
    if (info.message().find("no such key") == std::string::npos) return false;
    // Never written: nothing missed. Gone after we read from it: Redis lost
    // it (a restart without AOF, a failover to an empty replica).
    if (last_id_ != "0-0") lost_track("the stream is gone");
    return true;
  }
  ReplyView a(info.value().get());
  for (size_t i = 0; i + 1 < a.size(); i += 2) {
    // Not a string: not a field we know, or an id that cannot be read.
    std::string field(a[i].text_view().value_or("")), id(a[i + 1].text_view().value_or(""));
    // An id that cannot be read means we cannot know what was missed: drop everything.
    if (field == "max-deleted-entry-id" && (!valid_stream_id(id) || compare_stream_ids(id, last_id_) > 0)) {
      lost_track("entries not read were trimmed");
      break;
    }
    // Behind what we read: a failover to a replica that had not received it.
    if (field == "last-generated-id" && (!valid_stream_id(id) || compare_stream_ids(id, last_id_) < 0)) {
      lost_track("the stream is behind what was read (a failover)");
      break;
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
    auto entries = decode_xread_reply(r.value().get());
    if (!entries) {
      firewall::refused("cache.bad_stream_entry", entries.message());
      return;  // reconnect, from last_id_
    }
    last_contact_ms_ = clock_.now_ms();
    for (const StreamEntry& e : *entries) {
      last_id_ = e.id;  // first: an entry that cannot be applied is not read again
      firewall::guard("cache.follower.entry", [&] { hooks_.entry(e, redis); });
      stats_.entries++;  // after: a count seen in status means the entry was handled
    }
    if (entries->size() < static_cast<size_t>(kBatch)) stats_.caught_up = true;
  }
}

void Follower::loop() {
  Backoff backoff;
  while (!stopping_) {
    std::string error = "connection lost";
    bool returned = firewall::guard("cache.follower", [&] {
      Redis redis(opts_);
      Status s = redis.connect();
      if (!s) {
        error = s.message();
        return;
      }
      if (!position(redis)) return;
      if (backoff.up()) log::info("cache_follower_up", {{"from", last_id_}});
      read(redis);
    });
    if (!returned) error = "an exception (counted in errors.caught)";
    if (stopping_) break;
    if (backoff.down()) {
      stats_.outages++;
      log::warn("cache_follower_down", {{"error", error}});
    }
    backoff.sleep([this] { return stopping_.load(); });
  }
}

}  // namespace tether
