// ResponseCache: one worker's cache of whole responses and template
// fragments, keyed by a string ("GET /news?page=2" by default).
//
// Lifetimes (a rule's cache option): Normal entries live until evicted,
// least recently used first; Timeout entries also expire at a set time;
// Persistent entries live until invalidated and are evicted only when no
// other entry is left to make room. Memory is bounded by max_bytes (key,
// headers, body, groups and a fixed overhead per entry). Every entry belongs
// to any number of groups. Invalidation is by regex over keys (search, not
// full match) or by group, or everything. A regex invalidation copies the
// keys under the mutex, matches them without it (RE2: linear time) and
// erases the matches under it again, a chunk of keys per hold, each only if
// it is still there, so requests are not held up by a scan.
//
// Variants (issue 14): a rule's query-string (and path) variants must not
// push other entries out. Chosen: a cap, not normalisation. Entries stored
// under a policy with a rule id (CachedRoute gives each rule one) count
// against that rule; at max_variants entries a new key of the rule is not
// stored (counted in over_variants) and the request is served uncached.
// Replacing an existing key is always allowed. Fragments (rule 0) are not capped.
//
// Race rule: every invalidation bumps a generation. A response is stored
// only if no invalidation happened since its request read generation(), so
// a page rendered from data that was changed meanwhile is never kept.
//
// Thread safety: every method may be called from any thread (one mutex;
// bodies are shared, never copied under it).
#pragma once
#include <atomic>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cache/policy.h"
#include "common/clock.h"
#include "tether/response.h"

namespace re2 {
class RE2;
}

namespace tether {

struct CacheStats {
  std::atomic<uint64_t> hits{0}, misses{0}, stores{0}, skipped_stale{0};
  std::atomic<uint64_t> evictions{0}, expired{0}, invalidations{0}, invalidated{0}, over_variants{0};
  std::atomic<int64_t> entries{0}, bytes{0};
};

class ResponseCache {
 public:
  static constexpr size_t kEntryOverhead = 160;  // bytes charged per entry beyond its strings
  static constexpr size_t kDefaultMaxVariants = 1000;

  ResponseCache(const Clock& clock, size_t max_bytes, size_t max_variants = kDefaultMaxVariants)
      : clock_(clock), max_bytes_(max_bytes), max_variants_(max_variants) {}

  // The entry, or null (a miss). A hit makes the entry most recently used.
  std::shared_ptr<const Response> get(const std::string& key);
  // Read before producing a response that may be stored.
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Stores r under key unless policy.mode is None, an invalidation happened
  // since `generation`, r alone exceeds max_bytes, or policy.rule already
  // has max_variants other entries. True when stored.
  bool put(const std::string& key, Response r, const CachePolicy& policy, uint64_t generation);

  // Each returns how many entries it removed.
  size_t invalidate_regex(const re2::RE2& re);
  size_t invalidate_groups(const std::vector<std::string>& groups);
  size_t clear();

  const CacheStats& stats() const { return stats_; }
  size_t max_bytes() const { return max_bytes_; }
  size_t max_variants() const { return max_variants_; }
  std::vector<std::string> keys() const;  // for tests and operators

 private:
  struct Entry {
    std::string key;
    std::shared_ptr<const Response> response;
    CacheMode mode = CacheMode::Normal;
    Millis expires_ms = 0;  // Timeout only
    std::vector<std::string> groups;
    size_t bytes = 0;
    uint64_t rule = 0;  // CachePolicy::rule; 0: not capped
  };
  using Lru = std::list<Entry>;  // front: most recently used
  struct Slot {
    Lru* list;
    Lru::iterator it;
  };

  bool erase_locked(const std::string& key);  // false: not there
  void make_room_locked(size_t need);
  void bump_generation_locked() { generation_.fetch_add(1, std::memory_order_acq_rel); }

  const Clock& clock_;
  const size_t max_bytes_;
  const size_t max_variants_;
  std::atomic<uint64_t> generation_{0};
  mutable std::mutex mu_;
  Lru normal_;      // Normal and Timeout entries
  Lru persistent_;  // Persistent entries
  std::unordered_map<std::string, Slot> index_;
  std::unordered_map<std::string, std::unordered_set<std::string>> groups_;  // group -> its keys
  std::unordered_map<uint64_t, size_t> per_rule_;  // rule -> its entries (rules other than 0)
  size_t bytes_ = 0;
  CacheStats stats_;
};

}  // namespace tether
