// RedisPool: Redis connections shared by many threads that each need one for
// a moment (acceptor threads serving API calls). acquire() lends one
// (reusing an idle one, else a new one); it returns to the pool when the
// Lease ends, unless it failed and disconnected. At most max_idle are kept.
//
// Thread safety: acquire() from any thread; a Lease is used by one thread.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "redis/redis.h"

namespace tether {

class RedisPool {
 public:
  explicit RedisPool(RedisOptions opts, size_t max_idle = 32) : opts_(std::move(opts)), max_idle_(max_idle) {}

  class Lease {
   public:
    Lease(RedisPool* pool, std::unique_ptr<Redis> r) : pool_(pool), redis_(std::move(r)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (redis_ && redis_->connected()) pool_->give_back(std::move(redis_));
    }
    Redis& operator*() { return *redis_; }
    Redis* operator->() { return redis_.get(); }

   private:
    RedisPool* pool_;
    std::unique_ptr<Redis> redis_;
  };

  Lease acquire() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      if (!idle_.empty()) {
        auto r = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(r));
      }
    }
    return Lease(this, std::make_unique<Redis>(opts_));
  }

 private:
  void give_back(std::unique_ptr<Redis> r) {
    std::lock_guard<std::mutex> lk(mu_);
    if (idle_.size() < max_idle_) idle_.push_back(std::move(r));
  }

  RedisOptions opts_;
  size_t max_idle_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Redis>> idle_;
};

}  // namespace tether
