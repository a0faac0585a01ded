// Sending invalidations to the bus:log stream (see publisher.h).
#include "cache/publisher.h"

#include <chrono>

#include "cache/invalidation.h"
#include "common/firewall.h"
#include "common/log.h"
#include "redis/backoff.h"

namespace tether {

Publisher::Publisher(RedisOptions opts, size_t stream_maxlen) : opts_(std::move(opts)), maxlen_(stream_maxlen) {}

Publisher::~Publisher() { stop(); }

void Publisher::start() { thread_ = std::thread([this] { run(); }); }

void Publisher::run() {
  for (int failures = 1;; ++failures) {
    if (firewall::guard("cache.publisher", [this] { loop(); })) return;
    // What loop() had taken from the queue may be lost: every cache drops
    // everything instead (more is dropped, never less), then it goes on.
    std::unique_lock lock(mu_);
    queue_.push_front(invalidation_fields(cache::Invalidation{".", {}}, "publisher-restart"));
    if (stopping_ && failures >= 3) {
      firewall::thread_stopped("cache.publisher", "kept throwing while stopping");
      return;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(std::min(100 << std::min(failures, 5), 2000)));
  }
}

void Publisher::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

size_t Publisher::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void Publisher::send(std::vector<std::string> fields) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxQueued) {
      queue_.clear();
      queue_.push_back(invalidation_fields(cache::Invalidation{".", {}}, "overflow"));
      log::warn("cache_publish_overflow", {{"queued", kMaxQueued}, {"effect", "every cache will be dropped"}});
    }
    queue_.push_back(std::move(fields));
  }
  cv_.notify_one();
}

bool Publisher::flush(Redis& redis, std::deque<std::vector<std::string>>& batch) {
  for (const auto& f : batch) redis.append(bus_log_xadd(opts_.prefix, maxlen_, f));
  auto replies = redis.flush();
  if (!replies) return false;
  for (const auto& r : replies.value()) {
    if (r->type == REDIS_REPLY_ERROR) {
      log::error("cache_publish_refused", {{"error", reply_string(r.get())}});  // not retried: it would fail again
    }
  }
  sent_ += batch.size();
  batch.clear();
  return true;
}

void Publisher::loop() {
  Redis redis(opts_);
  std::deque<std::vector<std::string>> batch;  // taken from the queue, not yet acknowledged
  Backoff backoff;
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (batch.empty()) cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      while (!queue_.empty()) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      if (stopping_ && stop_deadline == std::chrono::steady_clock::time_point::max()) {
        stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      }
    }
    if (batch.empty()) return;  // stopping with nothing left
    if (redis.connect() && flush(redis, batch)) {
      if (backoff.up()) log::info("cache_publish_up");
      continue;
    }
    if (backoff.down()) log::warn("cache_publish_down", {{"queued", batch.size()}});
    if (std::chrono::steady_clock::now() >= stop_deadline) {
      log::error("cache_publish_abandoned", {{"unsent", batch.size()}});
      return;
    }
    std::unique_lock lock(mu_);
    backoff.wait(cv_, lock, [&] { return stopping_ && stop_deadline == std::chrono::steady_clock::time_point::max(); });
  }
}

}  // namespace tether
