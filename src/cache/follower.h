// Follower: a thread that reads the {prefix}bus:log stream (XREAD BLOCK) on
// its own Redis connection and hands each entry to the service: cache
// invalidations and docroot pushes. It remembers the last id it read, so
// after a disconnect it replays everything it missed; if the stream was
// trimmed past that id (XINFO's max-deleted-entry-id), it cannot know what
// it missed and asks for everything to be dropped instead.
//
// fresh() says whether the cache may be read: the follower is caught up
// (it read the backlog) and has heard from Redis within stale_after_ms.
//
// Replies are decoded (messages.h); a reply of the wrong shape is treated as
// a broken connection, an entry of the wrong shape still reaches the entry
// hook with its error set (the hook refuses and counts it). No exception
// leaves the thread: each hook call runs under firewall::guard
// ("cache.follower.entry", "cache.follower.resync") and each connection's
// work under "cache.follower" (a throw there counts as an outage).
//
// Thread safety: the hooks run on the follower thread. fresh() and stats
// from any thread; start()/stop() from the owner (stop waits <= ~600 ms).
#pragma once
#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "cache/messages.h"
#include "common/clock.h"
#include "redis/redis.h"

namespace tether {

struct FollowerStats {
  std::atomic<uint64_t> entries{0}, outages{0}, lost_track{0};
  std::atomic<bool> caught_up{false};
};

class Follower {
 public:
  struct Hooks {
    // One stream entry (its fields, or why they could not be read); in stream order.
    std::function<void(const StreamEntry& entry, Redis& redis)> entry;
    // At the first connection, and when entries may have been missed.
    std::function<void(Redis& redis, bool missed_entries)> resync;
  };
  Follower(RedisOptions opts, Millis stale_after_ms, const Clock& clock, Hooks hooks);
  ~Follower();
  void start();
  void stop();
  bool fresh() const;
  const FollowerStats& stats() const { return stats_; }
  std::string key() const { return opts_.prefix + "bus:log"; }

 private:
  void loop();
  bool position(Redis& redis);  // sets last_id_ and resyncs; false on a Redis error
  void read(Redis& redis);      // until an error or stop

  RedisOptions opts_;
  Millis stale_after_ms_;
  const Clock& clock_;
  Hooks hooks_;
  std::string last_id_;  // follower thread only; "" before the first position()
  std::atomic<Millis> last_contact_ms_{0};
  std::atomic<bool> stopping_{false};
  FollowerStats stats_;
  std::thread thread_;
};

// "ms-seq" stream ids compared as numbers: <0, 0, >0.
int compare_stream_ids(const std::string& a, const std::string& b);

}  // namespace tether
