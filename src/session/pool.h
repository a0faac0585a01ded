// SessionPool: the fixed set of session shards of one worker.
//
// A session belongs for life to the shard chosen by its id's hash; its
// SessionHost is touched only by whoever holds that shard's turn, one
// thread at a time. Session::rotate_id re-keys a session on its turn, under
// a new id drawn from the same shard (SessionHost::new_id), so no lock here
// changes: jobs already posted for the old id run after it and find no
// session (a new one, reason expired), and each is counted off the old id's
// waiting_ entry it was counted on. The shard's own thread takes the turn for queued jobs,
// tasks and timers. With `inline` (the default), a job posted while the
// shard is idle (nobody holds the turn, nothing queued) runs at once on
// the posting thread, which takes the turn itself: no hand-off to the
// shard's thread and back (the turn model of Orleans grains and Asio
// strands). A job that finds the shard busy is queued behind the holder.
// Either way a session's jobs run one at a time, in the order posted; what
// changes is which thread runs them (app code must not keep thread-locals
// across requests: include/tether/session.h). Any thread may post(). A job for an existing session
// is refused (Busy) while job->max_queued others for that session wait or
// run, so one slow session cannot hold every acceptor thread. stop() refuses
// new jobs, lets the queued ones finish, ends every session
// (EndReason::Shutdown), and joins.
#pragma once
#include <algorithm>
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
  // run_inline: a job posted while the shard is idle runs on the posting thread.
  SessionThread(const Clock& clock, SessionTimeouts timeouts, const std::string* route, int shard, int shards,
                SessionStats* stats, SessionObserver* observer, bool run_inline);
  ~SessionThread();
  void start();
  // Queues the job. here (and run_inline): if the shard is idle, runs it on
  // the calling thread instead, before returning.
  Posted post(SessionJobPtr job, bool here = false);
  // Runs fn on this thread (for kills and inspection). False when stopping.
  bool run_on(std::function<void(SessionHost&)> fn);
  // Before start(): see SessionHost::set_checkpoints.
  void set_checkpoints(CheckpointSink* sink, const CheckpointPlans* plans) { host_.set_checkpoints(sink, plans); }
  // Before start(): see SessionHost::set_max_live.
  void set_max_live(size_t n) { host_.set_max_live(n); }
  // Drains the queue, ends all sessions (with `reason`), joins.
  void stop(EndReason reason = EndReason::Shutdown);

 private:
  void loop();
  // Runs one job; the caller holds the turn.
  void run_job(SessionJob& job);
  // The posting thread gives back the turn it took for an inline job.
  void release_turn();
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
  // The turn: true while some thread (this shard's, or a poster running a
  // job inline) may touch host_. Guarded by mu_.
  bool busy_ = false;
  // When this shard's thread means to wake for its next timer (INT64_MAX:
  // none), so a poster that made an earlier one wakes it. Guarded by mu_.
  Millis wake_at_ = INT64_MAX;
  const bool run_inline_;
  EndReason end_reason_ = EndReason::Shutdown;
  std::thread thread_;
};

class SessionPool {
 public:
  // run_inline: see above (config session_turns: "inline", or "pinned" to
  // run every job on the session's shard thread).
  SessionPool(const Clock& clock, SessionTimeouts timeouts, std::string route, int threads,
              SessionObserver* observer = nullptr, bool run_inline = true);
  ~SessionPool();
  // Before start(): every shard's snapshots go to sink, for the apps plans
  // names (session/checkpoint.h). Both outlive the pool.
  void set_checkpoints(CheckpointSink* sink, const CheckpointPlans* plans) {
    for (auto& t : threads_) t->set_checkpoints(sink, plans);
  }
  // Before start(): hibernation (config max_live_sessions, 0: off). Each
  // shard keeps its share in memory: the budget split exactly (shards differ
  // by one at most, so the worker holds max_live), but at least 1 each.
  void set_max_live(int64_t max_live) {
    size_t n = threads_.size();
    for (size_t i = 0; i < n; ++i) {
      size_t share = 0;
      if (max_live > 0) {
        size_t b = static_cast<size_t>(max_live);
        share = std::max<size_t>(1, b / n + (i < b % n ? 1 : 0));
      }
      threads_[i]->set_max_live(share);
    }
  }
  void start();
  void stop(EndReason reason = EndReason::Shutdown);
  // Queues the job for its session's shard thread; wait for it (job.h).
  Posted post(SessionJobPtr job);
  // As post(), but with inline turns a job whose shard is idle runs on the
  // calling thread, and is finished when run() returns (the session route).
  Posted run(SessionJobPtr job);
  // The acceptor found no worker with room for a new session (placement).
  void count_refused_full() { stats_.refused_full++; }
  void count_refused_stale() { stats_.refused_stale++; }
  void count_restore_failed() { stats_.restore_failed++; }
  // Drain: each thread in turn offers its sessions to send (SessionHost::hand_over),
  // on that thread. Returns how many moved.
  size_t hand_over(const SessionHost::Sender& send);
  // Makes a session handed over by a peer, on the thread that owns sid;
  // waits until the envelope's deadline_ms (unix ms; none: until done).
  // Past it: error, and nothing is kept (an adopt not yet started never
  // runs; one that finished late is dropped without on_end).
  // recovered: see SessionHost::adopt.
  Status adopt(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope,
               bool recovered = false);
  // Removes a session that turned out not to be ours without on_end: it
  // lives on at its owner (SessionHost::drop: adopted, or a stale copy). Waits.
  bool drop(const SessionId& sid, bool adopted = true);
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
