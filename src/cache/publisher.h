// Publisher: a thread that appends this worker's invalidations to the
// {prefix}bus:log stream on its own Redis connection. send() only queues, so
// a handler never waits on Redis; when Redis is down the queue waits and is
// sent, in order, when it is back (one log line per outage). Past
// kMaxQueued messages the queue collapses into one "drop everything"
// message: more is dropped from caches, never less.
//
// No exception leaves the thread: loop() runs under firewall::guard and is
// started again after a throw, with a "drop everything" message queued first.
//
// Thread safety: send() and stats from any thread; start()/stop() from the
// owner. stop() tries to send what is queued for up to one second.
#pragma once
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "redis/redis.h"

namespace tether {

class Publisher {
 public:
  static constexpr size_t kMaxQueued = 10000;
  Publisher(RedisOptions opts, size_t stream_maxlen);
  ~Publisher();
  void start();
  void stop();
  // fields: one stream entry (see invalidation.h).
  void send(std::vector<std::string> fields);
  uint64_t sent() const { return sent_.load(); }
  size_t queued() const;

 private:
  void run();   // loop() under firewall::guard("cache.publisher"), restarted if it throws
  void loop();
  bool flush(Redis& redis, std::deque<std::vector<std::string>>& batch);

  RedisOptions opts_;
  size_t maxlen_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::vector<std::string>> queue_;
  bool stopping_ = false;
  std::atomic<uint64_t> sent_{0};
  std::thread thread_;
};

}  // namespace tether
