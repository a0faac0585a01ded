// A worker's cache service and the public tether::cache API (see service.h, tether/cache.h).
#include "cache/service.h"

#include "cache/docroot.h"
#include "cache/invalidation.h"
#include "cache/messages.h"
#include "common/firewall.h"
#include "common/log.h"

namespace tether {
namespace {

std::atomic<CacheService*> g_running{nullptr};

}  // namespace

CacheService::CacheService(const Clock& clock, CacheSettings settings, const RedisOptions* redis, std::string origin)
    : clock_(clock), settings_(std::move(settings)), origin_(std::move(origin)), store_(clock, settings_.max_bytes, settings_.max_variants) {
  if (redis == nullptr) return;
  publisher_ = std::make_unique<Publisher>(*redis, settings_.stream_maxlen);
  Follower::Hooks hooks;
  hooks.entry = [this](const StreamEntry& e, Redis& r) { on_entry(e, r); };
  hooks.resync = [this](Redis& r, bool missed) { on_resync(r, missed); };
  follower_ = std::make_unique<Follower>(*redis, settings_.stale_after_ms, clock_, std::move(hooks));
}

CacheService::~CacheService() { stop(); }

void CacheService::start() {
  if (publisher_) publisher_->start();
  if (follower_) follower_->start();
  g_running = this;
}

void CacheService::stop() {
  CacheService* me = this;
  g_running.compare_exchange_strong(me, nullptr);
  if (follower_) follower_->stop();
  if (publisher_) publisher_->stop();
}

cache::Outcome CacheService::invalidate(const cache::Invalidation& what) {
  auto checked = check_invalidation(what);
  if (!checked) return {false, checked.message()};
  apply_invalidation(store_, checked.value());
  if (publisher_) publisher_->send(invalidation_fields(what, origin_));
  return {};
}

void CacheService::refuse(const char* kind, const std::string& why) {
  bad_messages_++;
  firewall::refused(kind, why);
}

void CacheService::on_entry(const StreamEntry& entry, Redis& redis) {
  if (!entry.error.empty()) return refuse("cache.bad_stream_entry", entry.error);
  auto decoded = decode_bus_log_entry(entry.fields);
  if (!decoded) {
    bool inv = false;
    for (const auto& [k, v] : entry.fields) inv = inv || (k == "type" && v == "invalidate");
    return refuse(inv ? "cache.bad_invalidation" : "cache.bad_stream_entry", "entry " + entry.id + ": " + decoded.message());
  }
  const BusLogEntry& e = decoded.value();
  if (e.kind == BusLogEntry::Kind::Invalidate) {
    if (e.origin == origin_) return;  // applied when it was sent
    size_t n = apply_invalidation(store_, e.invalidation);
    log::info("cache_invalidated", {{"regex", e.invalidation.regex_text.empty() ? "" : quoted_start(e.invalidation.regex_text)},
                                    {"groups", e.invalidation.groups},
                                    {"entries", n}});
  } else if (e.kind == BusLogEntry::Kind::Docroot) {
    if (settings_.docroot.empty()) return;
    Status s = fetch_docroot_file(redis, settings_.docroot, e.path);
    if (s) {
      docroot_files_++;
    } else {
      docroot_errors_++;
      log::warn("docroot_sync_failed", {{"error", s.message()}});
    }
  }
  // Other types belong to other components or newer versions.
}

void CacheService::on_resync(Redis& redis, bool missed) {
  if (missed) store_.clear();
  if (settings_.docroot.empty()) return;
  size_t skipped = 0;
  auto n = sync_docroot(redis, settings_.docroot, &skipped);
  docroot_errors_ += skipped;
  if (!n) {
    docroot_errors_++;
    log::warn("docroot_sync_failed", {{"error", n.message()}});
  }
}

nlohmann::json CacheService::stats_json() const {
  const CacheStats& s = store_.stats();
  nlohmann::json j = {{"hits", s.hits.load()},
                      {"misses", s.misses.load()},
                      {"stores", s.stores.load()},
                      {"entries", s.entries.load()},
                      {"bytes", s.bytes.load()},
                      {"max_bytes", store_.max_bytes()},
                      {"evictions", s.evictions.load()},
                      {"expired", s.expired.load()},
                      {"invalidations", s.invalidations.load()},
                      {"invalidated", s.invalidated.load()},
                      {"skipped_stale", s.skipped_stale.load()},
                      {"over_variants", s.over_variants.load()},
                      {"max_variants", store_.max_variants()},
                      {"reads_allowed", reads_allowed()},
                      {"bad_messages", bad_messages_.load()},
                      {"docroot_files", docroot_files_.load()},
                      {"docroot_errors", docroot_errors_.load()}};
  if (follower_) {
    j["follower"] = {{"entries", follower_->stats().entries.load()},
                     {"outages", follower_->stats().outages.load()},
                     {"lost_track", follower_->stats().lost_track.load()},
                     {"caught_up", follower_->stats().caught_up.load()}};
  }
  if (publisher_) j["publisher"] = {{"sent", publisher_->sent()}, {"queued", publisher_->queued()}};
  return j;
}

}  // namespace tether

namespace tether::cache {

Outcome invalidate(const Invalidation& what) {
  CacheService* s = g_running.load();
  if (s == nullptr) return {false, "no cache here: tether::cache works inside a running tetherd worker"};
  return s->invalidate(what);
}

std::function<Response(const Request&)> invalidate_if_ok(std::function<Response(const Request&)> handler,
                                                         Invalidation what) {
  if (auto c = check_invalidation(what); !c) throw std::invalid_argument("invalidate_if_ok: " + c.message());
  return [handler = std::move(handler), what = std::move(what)](const Request& req) {
    Response r = handler(req);
    if (r.status < 400) {
      if (auto o = invalidate(what); !o) log::warn("cache_invalidate_failed", {{"error", o.error}});
    }
    return r;
  };
}

}  // namespace tether::cache
