// SessionHost: the sessions owned by one session thread, and their timers.
//
// Single-threaded by design: only the owning session thread calls it (tests
// call it directly, with a ManualClock). It creates sessions, runs their
// requests, re-keys one under a fresh id of its shard when the app asks
// (Session::rotate_id), and ends them on idle timeout, total lifetime, the app's
// request, a kill, or shutdown, always calling on_end exactly once. A new
// session is made only while the worker (all its session threads, the
// shared SessionStats::live) holds fewer than the job's max_sessions;
// sessions handed over by a peer (adopt) are taken even past it, since
// refusing them would end them. With checkpoints (set_checkpoints), a
// session of an app that has a plan is snapshotted after a request at most
// once per interval, or by a timer when a request came within the interval
// (host_checkpoint.cpp), so a crash loses at most one interval of changes.
// With a budget (set_max_live), sessions of such apps beyond it are
// hibernated, least recently used first: written out through the sink and
// dropped from memory, keeping a small record; a request, a timer or a kill
// wakes them (load, restore, on_wake) first (host_hibernate.cpp).
#pragma once
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "session/checkpoint.h"
#include "session/job.h"
#include "session/observer.h"
#include "session/stats.h"
#include "tether/session.h"

namespace tether {

// The inverse of to_string(StartReason) ("lost" -> Lost, ...); New for
// anything else. Reasons travel as text in peer requests and hand-overs.
StartReason parse_start_reason(const std::string& s);

struct SessionTimeouts {
  Millis idle_ms = 1800 * 1000;
  Millis lifetime_ms = 86400 * 1000;
  Millis report_ms = 60 * 1000;  // tell the observer a session is in use at most this often
};

class SessionHost {
 public:
  // shard/shards: this host owns the ids with SessionIdHash % shards == shard.
  // observer may be null (no registry).
  SessionHost(const Clock& clock, SessionTimeouts timeouts, const std::string* route, int shard, int shards,
              SessionStats* stats, SessionObserver* observer = nullptr);
  ~SessionHost();
  SessionHost(const SessionHost&) = delete;
  SessionHost& operator=(const SessionHost&) = delete;

  // Runs one request: finds or creates its session, calls handle(), and
  // ends the session afterwards if the app asked to.
  void serve(SessionJob& job);
  // Ends every session whose idle time or lifetime has run out; returns how many.
  size_t sweep();
  // Ends one session (operator kill). Returns false if it is not here.
  bool kill(const SessionId& sid);
  // Ends all sessions (worker shutdown).
  void end_all(EndReason reason);

  // Drain: offers every session whose snapshot() gives a state to send(sid,
  // factory, envelope), which returns the new owner's address, or "" if no
  // one took it. A session taken leaves this table without on_end; later
  // requests for it get job.moved_to. Returns how many moved.
  using Sender = std::function<std::string(const SessionId&, const SessionFactory*, const nlohmann::json& envelope)>;
  size_t hand_over(const Sender& send);
  // Makes a session handed over by another worker: a new object from
  // factory, restore(envelope["state"]). Error if it cannot (nothing kept).
  // recovered: restored from a checkpoint after its worker died: its start
  // reason is Recovered and on_start(Recovered) runs after restore()
  // (counted as recovered, not moved in).
  Status adopt(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope,
               bool recovered = false);
  // Removes a session without on_end: it lives on elsewhere. adopted: an
  // adopt undone (its take-over failed; counted off moved_in); else a stale
  // copy whose newer generation another worker holds (counted dropped_stale).
  // False if it is not here.
  bool drop(const SessionId& sid, bool adopted = true);

  // Checkpoints: where snapshots go and which apps take them (both outlive
  // this host; null: none). Before the first serve().
  void set_checkpoints(CheckpointSink* sink, const CheckpointPlans* plans) {
    ckpt_sink_ = sink;
    ckpt_plans_ = plans;
  }

  // Hibernation: at most this many sessions of this host in memory (0: no
  // bound); only sessions of apps with a checkpoint plan are hibernated.
  void set_max_live(size_t n) { max_live_ = n; }

  size_t size() const { return sessions_.size(); }  // sessions in memory
  size_t hibernated() const { return hibernated_.size(); }
  bool contains(const SessionId& sid) const { return sessions_.count(sid) != 0; }
  bool is_hibernated(const SessionId& sid) const { return hibernated_.count(sid) != 0; }
  // When sweep() next has work; INT64_MAX if no session is live.
  Millis next_deadline() const;
  // A fresh random id that this host owns.
  SessionId new_id() const;
  // Calls fn(sid, created_unix_ms) for every session owned here (hibernated too).
  template <class Fn>
  void for_each(Fn fn) const {
    for (const auto& [sid, e] : sessions_) fn(sid, unix_ms_of(e.created));
    for (const auto& [sid, z] : hibernated_) fn(sid, unix_ms_of(z.created));
  }

 private:
  struct Entry {
    std::unique_ptr<Session> session;
    Millis created;
    Millis last_seen;
    Millis last_reported = 0;
    const SessionFactory* factory = nullptr;  // the app that made it (for hand-over)
    // Checkpoints: the last snapshot taken or tried (steady ms), when a change
    // not yet snapshotted is due (INT64_MAX: none), and whether a record was
    // ever handed to the sink (then the session's end deletes it).
    Millis ckpt_last = 0;
    Millis ckpt_due = INT64_MAX;
    bool ckpt_written = false;
    // Hibernation: its place in lru_. Only sessions of apps with a plan that
    // were served here are there (a request tells this host its epoch).
    bool in_lru = false;
    std::list<SessionId>::iterator lru{};
  };
  // A hibernated session: what is needed to wake it (its state is in the
  // sink's record, written at at_ms) and its timers' inputs.
  struct Sleeper {
    const SessionFactory* factory = nullptr;
    std::string app;
    Millis created = 0, last_seen = 0, last_reported = 0;
    int64_t epoch = 1;
    int64_t at_ms = 0;
    uint64_t requests = 0;
    StartReason start_reason = StartReason::New;
  };
  using Sleepers = std::unordered_map<SessionId, Sleeper, SessionIdHash>;
  struct Timer {
    Millis deadline;
    SessionId sid;
    bool operator>(const Timer& o) const { return deadline > o.deadline; }
  };

  Millis deadline_of(const Entry& e) const { return deadline_of(e.created, e.last_seen); }
  Millis deadline_of(Millis created, Millis last_seen) const;
  // Why a session past its deadline ends: idle, unless its lifetime ran out first.
  EndReason expiry(Millis last_seen, Millis now) const {
    return last_seen + timeouts_.idle_ms <= now ? EndReason::Idle : EndReason::Lifetime;
  }
  // No session left here (live or hibernated): every timer is stale.
  void clear_timers_if_empty();
  int64_t unix_ms_of(Millis steady) const;  // a clock_ time as wall time
  // Counts one more live session unless the worker holds max_sessions (> 0) already.
  bool reserve(int64_t max_sessions);
  // reason: the start reason instead of the job's (a wake that failed: Lost).
  Session* create(SessionJob& job, std::optional<StartReason> reason = std::nullopt);
  void end(std::unordered_map<SessionId, Entry, SessionIdHash>::iterator it, EndReason reason);
  // Re-keys the session at it under a fresh id of this shard (Session::rotate_id):
  // the old id is gone from the table at once; the job learns the new one.
  void rotate(std::unordered_map<SessionId, Entry, SessionIdHash>::iterator it, SessionJob& job);

  using Iter = std::unordered_map<SessionId, Entry, SessionIdHash>::iterator;
  // After a request on the session at it: a snapshot now if its interval has
  // passed, else a timer for when it has (host_checkpoint.cpp).
  void after_request(Iter it, Millis now);
  // Takes the snapshot and hands it to the sink; a failed one is counted and skipped.
  void take_checkpoint(Iter it, Millis now, const CheckpointPlan& plan);
  // Checkpoints whose timer is due; the session ended here (delete its record).
  void sweep_checkpoints(Millis now);
  void checkpoint_ended(const SessionId& sid, const Entry& e);
  // The snapshot of the session at it as JSON text, or nullopt (counted as a skipped checkpoint).
  std::optional<std::string> snapshot_text(Iter it, const CheckpointPlan& plan);

  // Hibernation (host_hibernate.cpp). The session at it was used now: first in lru_.
  void touch(Iter it);
  void unlink(Entry& e);
  // Hibernates least recently used sessions while more than max_live_ are in
  // memory; never `keep` (the session whose request is being served).
  void enforce_budget(const SessionId* keep);
  enum class Slept { Yes, Failed, Deferred };
  Slept hibernate(Iter it, const CheckpointPlanMap* plans);
  // Wakes the hibernated session at z: load, a new object, restore, on_wake.
  // The live entry, or sessions_.end() if it could not be (why: Unavailable,
  // it stays hibernated; else it is gone, counted, without on_end).
  Iter wake(Sleepers::iterator z, LoadedCheckpoint::Kind* why);
  // Ends a hibernated session: woken for on_end(reason) if it can be.
  void end_hibernated(Sleepers::iterator z, EndReason reason);
  // Forgets a hibernated session that cannot be woken (its record and registry entry go).
  void forget(Sleepers::iterator z, EndReason reason);
  void count_end(EndReason reason);
  // Drain: offers the session at it to send; true if it was taken (it is gone).
  bool offer(Iter it, const Sender& send);
  // A new object of factory for sid, restored from state (a hand-over, a
  // recovery, a wake); error when the app makes none, restore() refuses the
  // state, or anything throws.
  Result<std::unique_ptr<Session>> rebuild(const SessionFactory* factory, const SessionId& sid, uint64_t requests,
                                           StartReason reason, int64_t epoch, const nlohmann::json& state) const;

  const Clock& clock_;
  SessionTimeouts timeouts_;
  const std::string* route_;
  int shard_, shards_;
  SessionStats* stats_;
  SessionObserver* observer_;
  std::unordered_map<SessionId, Entry, SessionIdHash> sessions_;
  std::unordered_map<SessionId, std::string, SessionIdHash> moved_;  // handed over: sid -> new owner's address
  // One timer per live session; stale ones (ended sessions, extended
  // deadlines) are fixed up when they reach the top.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  // Checkpoint timers, apart from timers_ (whose one-per-session rule they
  // would break): at most one live per session; stale ones are skipped.
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> ckpt_timers_;
  CheckpointSink* ckpt_sink_ = nullptr;
  const CheckpointPlans* ckpt_plans_ = nullptr;
  size_t max_live_ = 0;
  std::list<SessionId> lru_;  // live sessions that may hibernate, most recently used first
  Sleepers hibernated_;
  // After a load found Redis unreachable, no load is tried before this
  // (steady ms): a sweep or shutdown ending many hibernated sessions waits
  // out one connect timeout, not one each.
  Millis loads_paused_until_ = 0;
  // A hibernation put off (the writer could not take records): the budget
  // is checked again then (steady ms; INT64_MAX: none), even with no request.
  Millis budget_retry_at_ = INT64_MAX;
};

}  // namespace tether
