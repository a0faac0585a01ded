// SessionPool: the fixed set of session threads of one worker.
//
// A session is pinned for life to the thread chosen by its id's hash; that
// thread alone creates, runs and ends it (SessionHost). Any thread may
// post() jobs; they run in the order posted. A job for an existing session
// is refused (Busy) while job->max_queued others for that session wait or
// run, so one slow session cannot hold every acceptor thread. stop() refuses
// new jobs, lets the queued ones finish, ends every session
// (EndReason::Shutdown), and joins.
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "session/host.h"

namespace tether {

// What post() did with a job.
enum class Posted {
  Ok,        // queued: wait for it
  Stopping,  // the worker is stopping: not taken
  Busy,      // its session has max_queued requests waiting already: not taken
};

class SessionThread {
 public:
  SessionThread(const Clock& clock, SessionTimeouts timeouts, const std::string* route, int shard, int shards,
                SessionStats* stats, SessionObserver* observer);
  ~SessionThread();
  void start();
  Posted post(SessionJobPtr job);
  // Runs fn on this thread (for kills and inspection). False when stopping.
  bool run_on(std::function<void(SessionHost&)> fn);
  // Drains the queue, ends all sessions (with `reason`), joins.
  void stop(EndReason reason = EndReason::Shutdown);

 private:
  void loop();
  // The job is over (served or abandoned): one fewer waiting for its session.
  void done_waiting(const SessionJob& job);

  const Clock& clock_;
  SessionHost host_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SessionJobPtr> jobs_;
  std::deque<std::function<void(SessionHost&)>> tasks_;
  // Requests posted and not yet finished, per existing session that has
  // any (an entry goes when its count does): what max_queued bounds.
  std::unordered_map<SessionId, int, SessionIdHash> waiting_;
  bool stopping_ = false;
  EndReason end_reason_ = EndReason::Shutdown;
  std::thread thread_;
};

class SessionPool {
 public:
  SessionPool(const Clock& clock, SessionTimeouts timeouts, std::string route, int threads,
              SessionObserver* observer = nullptr);
  ~SessionPool();
  void start();
  void stop(EndReason reason = EndReason::Shutdown);
  Posted post(SessionJobPtr job);
  // The acceptor found no worker with room for a new session (placement).
  void count_refused_full() { stats_.refused_full++; }
  void count_refused_stale() { stats_.refused_stale++; }
  // Drain: each thread in turn offers its sessions to send (SessionHost::hand_over),
  // on that thread. Returns how many moved.
  size_t hand_over(const SessionHost::Sender& send);
  // Makes a session handed over by a peer, on the thread that owns sid;
  // waits until the envelope's deadline_ms (unix ms; none: until done).
  // Past it: error, and nothing is kept (an adopt not yet started never
  // runs; one that finished late is dropped without on_end).
  Status adopt(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope);
  // Removes an adopted session that turned out not to be ours (its
  // take-over failed) without on_end: it lives on at its owner. Waits.
  bool drop(const SessionId& sid);
  // Which thread owns sid, and a fresh id for a new session.
  size_t shard_of(const SessionId& sid) const;
  bool kill(const SessionId& sid);  // waits until the owner thread has ended it
  // Every live session (sid, created unix ms), gathered from each thread in turn.
  std::vector<std::pair<SessionId, int64_t>> snapshot();
  const SessionStats& stats() const { return stats_; }
  const std::string& route() const { return route_; }

 private:
  std::string route_;  // shared by every session's record
  SessionStats stats_;
  std::vector<std::unique_ptr<SessionThread>> threads_;
};

}  // namespace tether
