// The per-worker response cache (see store.h).
#include "cache/store.h"

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
  list.push_front(std::move(e));
  index_[key] = Slot{&list, list.begin()};
  for (const auto& g : policy.groups) groups_[g].insert(key);
  bytes_ += bytes;
  stats_.stores++;
  stats_.entries = static_cast<int64_t>(index_.size());
  stats_.bytes = static_cast<int64_t>(bytes_);
  return true;
}

void ResponseCache::erase_locked(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return;
  bytes_ -= it->second.it->bytes;
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

size_t ResponseCache::invalidate_regex(const std::regex& re) {
  std::lock_guard lock(mu_);
  bump_generation_locked();
  stats_.invalidations++;
  std::vector<std::string> doomed;
  for (auto& [key, slot] : index_) {
    if (std::regex_search(key, re)) doomed.push_back(key);
  }
  for (const auto& k : doomed) erase_locked(k);
  stats_.invalidated += doomed.size();
  return doomed.size();
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
