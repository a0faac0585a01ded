// Tests SessionPool (src/session/pool) with real threads: ordering, pinning, kill and stop.
#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "session/pool.h"

namespace tether {
namespace {

// What one session saw. Registered under the session's short id by on_start;
// after that only the session's own thread writes it.
struct Log {
  std::vector<int> seqs;  // the number in each request path "/<n>"
  std::vector<std::thread::id> threads;
  std::vector<EndReason> ends;
};

class Logs {
 public:
  Log* add(const std::string& short_id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto [it, fresh] = logs_.emplace(short_id, std::make_unique<Log>());
    EXPECT_TRUE(fresh) << short_id;
    return it->second.get();
  }
  // The log of sid; read it only after waiting for that session's work.
  Log* of(const SessionId& sid) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = logs_.find(sid.hex().substr(0, 12));
    return it == logs_.end() ? nullptr : it->second.get();
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu_);
    return logs_.size();
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Log>> logs_;
};

class Sequenced final : public Session {
 public:
  explicit Sequenced(Logs* logs) : logs_(logs) {}
  void on_start(StartReason) override { log_ = logs_->add(short_id()); }
  Response handle(const Request& req) override {
    log_->seqs.push_back(std::stoi(req.path.substr(1)));
    log_->threads.push_back(std::this_thread::get_id());
    return Response::text(std::to_string(request_count()));
  }
  void on_end(EndReason r) override { log_->ends.push_back(r); }

 private:
  Logs* logs_;
  Log* log_ = nullptr;
};

constexpr int kThreads = 4;

class SessionPoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    pool_.start();
  }

  SessionJobPtr job(int seq, const SessionId& sid, bool existing) {
    auto j = std::make_shared<SessionJob>();
    j->request.method = "GET";
    j->request.path = "/" + std::to_string(seq);
    j->factory = &factory_;
    j->sid = sid;
    j->existing = existing;
    return j;
  }
  // Creates a session (optionally on a given shard) and returns its id.
  SessionId create(int shard = -1) {
    SessionId sid = SessionId::random();
    while (shard >= 0 && pool_.shard_of(sid) != size_t(shard)) sid = SessionId::random();
    auto j = job(0, sid, false);
    EXPECT_EQ(pool_.post(j), Posted::Ok);
    j->wait();
    EXPECT_TRUE(j->created);
    EXPECT_EQ(j->created_sid, sid);
    return j->created_sid;
  }

  // Declared before the pool: sessions write their logs while the pool stops.
  Logs logs_;
  SessionFactory factory_ = [this] { return std::make_unique<Sequenced>(&logs_); };
  SteadyClock clock_;
  SessionPool pool_{clock_, {3600 * 1000, 7200 * 1000}, "h1-0", kThreads};
};

TEST_F(SessionPoolTest, EachSessionSeesItsRequestsInPostingOrder) {
  constexpr int kPosters = 4, kJobs = 500;
  SessionId sids[kPosters];
  bool all_ok[kPosters] = {};
  std::vector<std::thread> posters;
  for (int p = 0; p < kPosters; ++p) {
    posters.emplace_back([this, p, &sids, &all_ok] {
      auto first = job(0, SessionId::random(), false);
      if (pool_.post(first) != Posted::Ok) return;
      first->wait();
      if (!first->created) return;
      SessionId sid = first->created_sid;
      std::vector<SessionJobPtr> jobs;
      for (int seq = 1; seq < kJobs; ++seq) {
        jobs.push_back(job(seq, sid, true));
        if (pool_.post(jobs.back()) != Posted::Ok) return;
      }
      bool ok = true;
      for (size_t i = 0; i < jobs.size(); ++i) {
        jobs[i]->wait();
        // jobs[i] carries seq i + 1: the session's request number i + 2.
        ok = ok && !jobs[i]->created && jobs[i]->response.body == std::to_string(i + 2);
      }
      sids[p] = sid;
      all_ok[p] = ok;
    });
  }
  for (auto& t : posters) t.join();
  std::vector<int> expected(kJobs);
  for (int i = 0; i < kJobs; ++i) expected[i] = i;
  for (int p = 0; p < kPosters; ++p) {
    EXPECT_TRUE(all_ok[p]) << "poster " << p;
    Log* log = logs_.of(sids[p]);
    ASSERT_NE(log, nullptr) << "poster " << p;
    EXPECT_EQ(log->seqs, expected) << "poster " << p;
  }
  EXPECT_EQ(logs_.size(), size_t(kPosters));
  EXPECT_EQ(pool_.stats().created, uint64_t(kPosters));
  EXPECT_EQ(pool_.stats().requests, uint64_t(kPosters * kJobs));
  EXPECT_EQ(pool_.stats().live, kPosters);
}

TEST_F(SessionPoolTest, EverySessionRunsOnItsOwnPinnedThread) {
  SessionId sids[kThreads];
  for (int s = 0; s < kThreads; ++s) sids[s] = create(s);
  // Interleave requests for all of them.
  std::vector<SessionJobPtr> jobs;
  for (int seq = 1; seq <= 50; ++seq) {
    for (int s = 0; s < kThreads; ++s) {
      jobs.push_back(job(seq, sids[s], true));
      ASSERT_EQ(pool_.post(jobs.back()), Posted::Ok);
    }
  }
  for (auto& j : jobs) j->wait();
  std::set<std::thread::id> owners;
  for (int s = 0; s < kThreads; ++s) {
    Log* log = logs_.of(sids[s]);
    ASSERT_NE(log, nullptr);
    ASSERT_EQ(log->threads.size(), 51u);
    std::set<std::thread::id> seen(log->threads.begin(), log->threads.end());
    EXPECT_EQ(seen.size(), 1u) << "session " << s << " ran on " << seen.size() << " threads";
    EXPECT_NE(*seen.begin(), std::this_thread::get_id());
    owners.insert(*seen.begin());
  }
  EXPECT_EQ(owners.size(), size_t(kThreads));  // one shard each: four different threads
}

TEST_F(SessionPoolTest, UnknownIdGetsANewSessionOnTheSameShard) {
  SessionId forged = SessionId::random();
  auto j = job(0, forged, true);
  ASSERT_EQ(pool_.post(j), Posted::Ok);
  j->wait();
  ASSERT_TRUE(j->created);
  EXPECT_NE(j->created_sid, forged);
  EXPECT_EQ(pool_.shard_of(j->created_sid), pool_.shard_of(forged));
  auto again = job(1, j->created_sid, true);
  ASSERT_EQ(pool_.post(again), Posted::Ok);
  again->wait();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->response.body, "2");
}

TEST_F(SessionPoolTest, KillEndsTheSessionOnce) {
  SessionId sid = create();
  SessionId other = create();
  EXPECT_TRUE(pool_.kill(sid));
  EXPECT_FALSE(pool_.kill(sid));
  EXPECT_FALSE(pool_.kill(SessionId::random()));
  EXPECT_EQ(logs_.of(sid)->ends, std::vector<EndReason>{EndReason::Killed});
  EXPECT_EQ(pool_.stats().ended_killed, 1u);
  EXPECT_EQ(pool_.stats().live, 1);
  EXPECT_TRUE(pool_.kill(other));
}

TEST_F(SessionPoolTest, AbandonedJobIsReleasedWithoutRunning) {
  auto j = job(0, SessionId::random(), false);
  j->abandoned.store(true);
  ASSERT_EQ(pool_.post(j), Posted::Ok);
  j->wait();
  EXPECT_FALSE(j->created);
  EXPECT_EQ(logs_.size(), 0u);
  EXPECT_EQ(pool_.stats().requests, 0u);
}

TEST_F(SessionPoolTest, StopFinishesQueuedJobsThenEndsSessionsWithShutdown) {
  SessionId sids[3] = {create(), create(), create()};
  std::vector<SessionJobPtr> queued;
  for (int seq = 1; seq <= 100; ++seq) {
    queued.push_back(job(seq, sids[seq % 3], true));
    ASSERT_EQ(pool_.post(queued.back()), Posted::Ok);
  }
  pool_.stop();
  // stop() has joined every thread: all queued jobs must already be done.
  for (auto& j : queued) {
    ASSERT_TRUE(j->finished());
    EXPECT_EQ(j->response.status, 200);
  }
  EXPECT_EQ(pool_.stats().ended_shutdown, 3u);
  EXPECT_EQ(pool_.stats().live, 0);
  const size_t requests[3] = {1 + 33, 1 + 34, 1 + 33};  // the creating job, then seq % 3 == i
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(logs_.of(sids[i])->ends, std::vector<EndReason>{EndReason::Shutdown});
    EXPECT_EQ(logs_.of(sids[i])->seqs.size(), requests[i]);
  }
}

TEST_F(SessionPoolTest, NothingIsTakenAfterStop) {
  SessionId sid = create();
  pool_.stop();
  auto j = job(1, sid, true);
  EXPECT_EQ(pool_.post(j), Posted::Stopping);
  EXPECT_FALSE(j->finished());
  EXPECT_FALSE(pool_.kill(sid));
  pool_.stop();  // a second stop is harmless
  EXPECT_EQ(pool_.stats().ended_shutdown, 1u);
}

}  // namespace
}  // namespace tether
