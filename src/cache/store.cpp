// The per-worker response cache (see store.h).
#include "cache/store.h"

#include <re2/re2.h>

#include <algorithm>

namespace tether {
namespace {

size_t size_of(const std::string& key, const Response& r, const std::vector<std::string>& groups) {
  size_t n = ResponseCache::kEntryOverhead + 2 * key.size() + r.body.size();
  for (auto& [k, v] : r.headers) n += k.size() + v.size() + 16;
  for (auto& g : groups) n += 2 * g.size() + 16;
  return n;
}

}  // namespace

std::shared_ptr<const Response> ResponseCache::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    stats_.misses++;
    return nullptr;
  }
  Lru& list = *it->second.list;
  Lru::iterator e = it->second.it;
  if (e->mode == CacheMode::Timeout && clock_.now_ms() >= e->expires_ms) {
    stats_.expired++;
    stats_.misses++;
    erase_locked(key);
    return nullptr;
  }
  list.splice(list.begin(), list, e);
  stats_.hits++;
  return e->response;
}

bool ResponseCache::put(const std::string& key, Response r, const CachePolicy& policy, uint64_t generation) {
  if (policy.mode == CacheMode::None) return false;
  size_t bytes = size_of(key, r, policy.groups);
  if (bytes > max_bytes_) return false;
  std::lock_guard lock(mu_);
  if (generation != generation_.load(std::memory_order_acquire)) {
    stats_.skipped_stale++;  // data changed while this response was made
    return false;
  }
  auto old = index_.find(key);
  bool replaces_own = old != index_.end() && old->second.it->rule == policy.rule;
  if (policy.rule != 0 && !replaces_own) {
    auto count = per_rule_.find(policy.rule);
    if (count != per_rule_.end() && count->second >= max_variants_) {
      stats_.over_variants++;  // served uncached: this rule's variants may not push others out
      return false;
    }
  }
  erase_locked(key);
  make_room_locked(bytes);
  Lru& list = policy.mode == CacheMode::Persistent ? persistent_ : normal_;
  Entry e;
  e.key = key;
  e.response = std::make_shared<const Response>(std::move(r));
  e.mode = policy.mode;
  e.expires_ms = policy.mode == CacheMode::Timeout ? clock_.now_ms() + policy.timeout_ms : 0;
  e.groups = policy.groups;
  e.bytes = bytes;
  e.rule = policy.rule;
  list.push_front(std::move(e));
  index_[key] = Slot{&list, list.begin()};
  for (const auto& g : policy.groups) groups_[g].insert(key);
  if (policy.rule != 0) per_rule_[policy.rule]++;
  bytes_ += bytes;
  stats_.stores++;
  stats_.entries = static_cast<int64_t>(index_.size());
  stats_.bytes = static_cast<int64_t>(bytes_);
  return true;
}

bool ResponseCache::erase_locked(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  bytes_ -= it->second.it->bytes;
  if (uint64_t rule = it->second.it->rule; rule != 0) {
    auto count = per_rule_.find(rule);
    if (count != per_rule_.end() && --count->second == 0) per_rule_.erase(count);
  }
  for (const auto& g : it->second.it->groups) {
    auto members = groups_.find(g);
    if (members == groups_.end()) continue;
    members->second.erase(key);
    if (members->second.empty()) groups_.erase(members);
  }
  it->second.list->erase(it->second.it);
  index_.erase(it);
  stats_.entries = static_cast<int64_t>(index_.size());
  stats_.bytes = static_cast<int64_t>(bytes_);
  return true;
}

void ResponseCache::make_room_locked(size_t need) {
  // Expired entries go first, then the least recently used normal ones,
  // then (only if nothing else is left) persistent ones.
  Millis now = clock_.now_ms();
  for (auto it = normal_.begin(); bytes_ + need > max_bytes_ && it != normal_.end();) {
    auto next = std::next(it);
    if (it->mode == CacheMode::Timeout && now >= it->expires_ms) {
      stats_.expired++;
      erase_locked(std::string(it->key));
    }
    it = next;
  }
  for (Lru* list : {&normal_, &persistent_}) {
    while (bytes_ + need > max_bytes_ && !list->empty()) {
      stats_.evictions++;
      erase_locked(std::string(list->back().key));
    }
  }
}

size_t ResponseCache::invalidate_regex(const re2::RE2& re) {
  std::vector<std::string> keys;
  {
    std::lock_guard lock(mu_);
    bump_generation_locked();  // what is stored from now on was made after this invalidation
    stats_.invalidations++;
    keys.reserve(index_.size());
    for (auto& [key, slot] : index_) keys.push_back(key);
  }
  std::vector<std::string> doomed;
  for (auto& k : keys) {
    if (RE2::PartialMatch(k, re)) doomed.push_back(std::move(k));
  }
  // Erased a chunk per hold of the mutex, each key only if it is still
  // there (it may have gone, or come back made after this invalidation).
  constexpr size_t kEraseChunk = 1024;
  size_t n = 0;
  for (size_t from = 0; from < doomed.size(); from += kEraseChunk) {
    std::lock_guard lock(mu_);
    size_t to = std::min(doomed.size(), from + kEraseChunk);
    for (size_t i = from; i < to; ++i) n += erase_locked(doomed[i]) ? 1 : 0;
  }
  stats_.invalidated += n;
  return n;
}

size_t ResponseCache::invalidate_groups(const std::vector<std::string>& groups) {
  std::lock_guard lock(mu_);
  bump_generation_locked();
  stats_.invalidations++;
  size_t n = 0;
  for (const auto& g : groups) {
    auto it = groups_.find(g);
    if (it == groups_.end()) continue;
    std::vector<std::string> doomed(it->second.begin(), it->second.end());  // erase_locked edits the set
    for (const auto& k : doomed) erase_locked(k);
    n += doomed.size();
  }
  stats_.invalidated += n;
  return n;
}

size_t ResponseCache::clear() {
  std::lock_guard lock(mu_);
  bump_generation_locked();
  stats_.invalidations++;
  size_t n = index_.size();
  index_.clear();
  normal_.clear();
  persistent_.clear();
  groups_.clear();
  per_rule_.clear();
  bytes_ = 0;
  stats_.entries = 0;
  stats_.bytes = 0;
  stats_.invalidated += n;
  return n;
}

std::vector<std::string> ResponseCache::keys() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto& [k, s] : index_) out.push_back(k);
  return out;
}

}  // namespace tether
