// CacheService: one worker's response cache as a whole: the ResponseCache,
// the Publisher that broadcasts this worker's invalidations, the Follower
// that applies everybody's (and docroot pushes), and the is_cacheable hooks.
// The public tether::cache functions reach the running service through a
// process-wide pointer that start() sets and stop() clears.
//
// Without Redis the cache is local: invalidations apply to this worker only.
// Stream entries are decoded (messages.h); one of the wrong shape is refused
// (firewall::refused "cache.bad_invalidation" or "cache.bad_stream_entry",
// and bad_messages in the cache figures) and changes nothing.
//
// Thread safety: store(), reads_allowed(), invalidate() and stats_json() from
// any thread; start()/stop() from the worker's main thread.
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "cache/follower.h"
#include "cache/publisher.h"
#include "cache/settings.h"
#include "cache/store.h"
#include "tether/cache.h"

namespace tether {

class CacheService {
 public:
  // redis: null for a worker without a registry. origin names this worker
  // in the messages it sends, so it skips its own when they come back.
  CacheService(const Clock& clock, CacheSettings settings, const RedisOptions* redis, std::string origin);
  ~CacheService();

  void start();
  void stop();

  ResponseCache& store() { return store_; }
  // False while this worker may have missed invalidations: serve without cache.
  bool reads_allowed() const { return !follower_ || follower_->fresh(); }
  // Applies here now and broadcasts; nothing is dropped anywhere on error.
  cache::Outcome invalidate(const cache::Invalidation& what);
  const CacheSettings& settings() const { return settings_; }
  nlohmann::json stats_json() const;

 private:
  void on_entry(const StreamEntry& entry, Redis& redis);
  void refuse(const char* kind, const std::string& why);  // counted in bad_messages and firewall
  void on_resync(Redis& redis, bool missed);

  const Clock& clock_;
  CacheSettings settings_;
  std::string origin_;
  ResponseCache store_;
  std::unique_ptr<Publisher> publisher_;
  std::unique_ptr<Follower> follower_;
  std::atomic<uint64_t> bad_messages_{0}, docroot_files_{0}, docroot_errors_{0};
};

}  // namespace tether
