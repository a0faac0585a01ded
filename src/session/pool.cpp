// Session threads and the pool that pins sessions to them (see pool.h).
#include "session/pool.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>

#include "common/firewall.h"
#include "common/json.h"

namespace tether {

SessionThread::SessionThread(const Clock& clock, SessionTimeouts timeouts, const std::string* route, int shard,
                             int shards, SessionStats* stats, SessionObserver* observer, bool run_inline)
    : clock_(clock), host_(clock, timeouts, route, shard, shards, stats, observer), run_inline_(run_inline) {}

SessionThread::~SessionThread() { stop(); }

void SessionThread::start() { thread_ = std::thread([this] { loop(); }); }

Posted SessionThread::post(SessionJobPtr job, bool here) {
  bool now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return Posted::Stopping;
    if (job->existing && job->max_queued > 0) {
      auto it = waiting_.find(job->sid);
      if (it != waiting_.end() && it->second >= job->max_queued) return Posted::Busy;
      if (it == waiting_.end()) it = waiting_.emplace(job->sid, 0).first;
      it->second++;
      job->queued_counted = true;
    }
    if (here && run_inline_ && thread_.joinable() && !busy_ && jobs_.empty() && tasks_.empty()) {
      busy_ = true;  // the shard is idle: take its turn and run the job here
      now = true;
    } else {
      jobs_.push_back(job);
    }
  }
  if (!now) {
    cv_.notify_one();
    return Posted::Ok;
  }
  // Given back however run_job ends: a shard whose turn is never released
  // would take no request again.
  struct Turn {
    SessionThread* shard;
    ~Turn() { shard->release_turn(); }
  } turn{this};
  run_job(*job);
  return Posted::Ok;
}

void SessionThread::run_job(SessionJob& job) {
  job.started_us = steady_micros();
  if (!job.abandoned.load(std::memory_order_acquire) && !firewall::guard("session.job", [&] { host_.serve(job); })) {
    job.response = Response::text("internal error\n", 500);  // the session table is left as it was
  }
  job.finished_us = steady_micros();
  done_waiting(job);  // before finish(): whoever waited may post the next one at once
  job.finish();
}

void SessionThread::release_turn() {
  Millis deadline = host_.next_deadline();  // still holding the turn
  bool wake;
  {
    std::lock_guard<std::mutex> lock(mu_);
    busy_ = false;
    // The shard's thread sleeps until work comes or its next timer; wake it
    // only if work came meanwhile, or the job made a timer due earlier.
    wake = stopping_ || !jobs_.empty() || !tasks_.empty() || deadline < wake_at_;
  }
  if (wake) cv_.notify_one();
}

void SessionThread::done_waiting(const SessionJob& job) {
  if (!job.queued_counted) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = waiting_.find(job.sid);
  if (it != waiting_.end() && --it->second <= 0) waiting_.erase(it);
}

bool SessionThread::run_on(std::function<void(SessionHost&)> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(fn));
  }
  cv_.notify_one();
  return true;
}

void SessionThread::stop(EndReason reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) end_reason_ = reason;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SessionThread::loop() {
  std::deque<SessionJobPtr> jobs;
  std::deque<std::function<void(SessionHost&)>> tasks;
  size_t ended_since_trim = 0;
  for (;;) {
    bool stopping;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Wait for work or the next timer, then take the turn. host_ is read
      // only while nobody holds the turn (busy_ false, under mu_).
      Millis deadline = INT64_MAX;
      for (;;) {
        if (!busy_) {
          deadline = host_.next_deadline();
          if (stopping_ || !jobs_.empty() || !tasks_.empty() || deadline <= clock_.now_ms()) break;
        }
        wake_at_ = deadline;
        if (deadline == INT64_MAX) {
          cv_.wait(lock);
        } else {
          cv_.wait_for(lock, std::chrono::milliseconds(std::max<Millis>(1, deadline - clock_.now_ms())));
        }
      }
      wake_at_ = INT64_MAX;
      busy_ = true;
      jobs.swap(jobs_);
      tasks.swap(tasks_);
      stopping = stopping_;
    }
    for (auto& job : jobs) run_job(*job);
    jobs.clear();
    for (auto& fn : tasks) firewall::guard("session.task", [&] { fn(host_); });
    tasks.clear();
    firewall::guard("session.sweep", [&] { ended_since_trim += host_.sweep(); });
    // Give memory of many ended sessions back to the system (glibc keeps it otherwise).
    if (ended_since_trim >= 10000 || (ended_since_trim > 0 && host_.size() == 0)) {
      malloc_trim(0);
      ended_since_trim = 0;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      // Stopping with nothing left: keep the turn for end_all (post and
      // run_on refuse everything from now on).
      if (stopping && jobs_.empty() && tasks_.empty()) break;
      busy_ = false;
    }
  }
  EndReason reason;
  {
    std::lock_guard<std::mutex> lock(mu_);
    reason = end_reason_;
  }
  firewall::guard("session.end_all", [&] { host_.end_all(reason); });
}

SessionPool::SessionPool(const Clock& clock, SessionTimeouts timeouts, std::string route, int threads,
                         SessionObserver* observer, bool run_inline)
    : route_(std::move(route)) {
  for (int i = 0; i < threads; ++i) {
    threads_.push_back(
        std::make_unique<SessionThread>(clock, timeouts, &route_, i, threads, &stats_, observer, run_inline));
  }
}

std::vector<std::pair<SessionId, int64_t>> SessionPool::snapshot() {
  std::vector<std::pair<SessionId, int64_t>> out;
  for (auto& t : threads_) {
    std::promise<void> done;
    auto f = done.get_future();
    // Each task below answers its promise even if the work throws: a waiter never hangs.
    if (!t->run_on([&](SessionHost& h) {
          firewall::guard("session.snapshot", [&] {
            h.for_each([&](const SessionId& sid, int64_t created) { out.emplace_back(sid, created); });
          });
          done.set_value();
        })) {
      continue;  // stopping
    }
    f.wait();
  }
  return out;
}

SessionPool::~SessionPool() { stop(); }

void SessionPool::start() {
  for (auto& t : threads_) t->start();
}

void SessionPool::stop(EndReason reason) {
  for (auto& t : threads_) t->stop(reason);
}

size_t SessionPool::hand_over(const SessionHost::Sender& send) {
  size_t moved = 0;
  for (auto& t : threads_) {
    std::promise<size_t> done;
    auto f = done.get_future();
    if (!t->run_on([&](SessionHost& h) {
          size_t n = 0;
          firewall::guard("session.hand_over", [&] { n = h.hand_over(send); });
          done.set_value(n);
        })) {
      continue;  // stopping
    }
    moved += f.get();
  }
  return moved;
}

Status SessionPool::adopt(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope,
                          bool recovered) {
  // Bounded: the sender gives up at its deadline (envelope "deadline_ms",
  // unix ms), and so does this side. The task and the waiter race for the
  // one claim: an adopt that would start after the waiter gave up never
  // makes the session (no on_start, no on_end); one that started and
  // finished late is dropped, also without on_end.
  enum : int { kPending = 0, kClaimed = 1, kAbandoned = 2 };
  auto claim = std::make_shared<std::atomic<int>>(kPending);
  auto done = std::make_shared<std::promise<Status>>();
  auto result = done->get_future();
  if (!threads_[shard_of(sid)]->run_on([=](SessionHost& h) {
        int expected = kPending;
        if (!claim->compare_exchange_strong(expected, kClaimed)) return;  // given up: nothing made
        Status st = Status::error("adopting the session threw");
        firewall::guard("session.adopt", [&] { st = h.adopt(sid, factory, envelope, recovered); });
        done->set_value(st);
      })) {
    return Status::error("the worker is stopping");
  }
  auto deadline_ms = int_field(envelope, "deadline_ms");
  if (!deadline_ms) return result.get();  // an older sender: no deadline to keep
  auto wait = std::chrono::milliseconds(std::clamp<int64_t>(*deadline_ms - unix_millis(), 0, 3600 * 1000));
  if (result.wait_for(wait) == std::future_status::ready) return result.get();
  int expected = kPending;
  if (claim->compare_exchange_strong(expected, kAbandoned)) return Status::error("too late: the sender gave up");
  Status st = result.get();  // restore() was running: let it end, then drop what it made
  if (st) drop(sid);
  return Status::error("too late: the sender gave up");
}

bool SessionPool::drop(const SessionId& sid, bool adopted) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  if (!threads_[shard_of(sid)]->run_on([sid, adopted, done](SessionHost& h) {
        bool dropped = false;
        firewall::guard("session.drop", [&] { dropped = h.drop(sid, adopted); });
        done->set_value(dropped);
      })) {
    return false;
  }
  return result.get();
}

size_t SessionPool::shard_of(const SessionId& sid) const { return SessionIdHash{}(sid) % threads_.size(); }

Posted SessionPool::post(SessionJobPtr job) {
  Posted r = threads_[shard_of(job->sid)]->post(std::move(job));
  if (r == Posted::Busy) stats_.refused_queued++;
  return r;
}

Posted SessionPool::run(SessionJobPtr job) {
  Posted r = threads_[shard_of(job->sid)]->post(std::move(job), true);
  if (r == Posted::Busy) stats_.refused_queued++;
  return r;
}

bool SessionPool::kill(const SessionId& sid) {
  auto done = std::make_shared<std::promise<bool>>();
  auto result = done->get_future();
  if (!threads_[shard_of(sid)]->run_on([sid, done](SessionHost& h) {
        bool killed = false;
        firewall::guard("session.kill", [&] { killed = h.kill(sid); });
        done->set_value(killed);
      })) {
    return false;
  }
  return result.get();
}

}  // namespace tether
