// SessionHost's hibernation (see host.h; issue 18 item 3): with a budget
// (max_live_, sessions in memory on this host), the least recently used
// sessions beyond it whose app has a checkpoint plan are snapshotted, their
// record handed to the sink (kept there until Redis has it), and their
// objects destroyed; a Sleeper remembers what waking needs. A request, a
// timer (idle, lifetime), a kill, a drain or shutdown wakes one: the sink
// loads the record (a blocking Redis read, on the session's own turn),
// a new object restores it and on_wake() runs. A record that cannot be
// loaded or restored ends the session without on_end (counted wake_failed).
// Runs on whichever thread holds the session's turn.
#include <malloc.h>

#include <algorithm>
#include <atomic>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "session/host.h"

namespace tether {
namespace {

// Failures repeat for every session when Redis is down: logged at most once a second per worker.
bool log_now() {
  static std::atomic<int64_t> last{0};
  return log::every(last, 1000);
}

// The memory a hibernated session held is freed, but glibc keeps it in the
// freeing thread's arena (sessions run on many threads): give it back to the
// system after every kTrimBytes of state hibernated in the worker, so that
// RSS follows the budget (malloc_trim walks the arenas: amortized this way).
constexpr int64_t kTrimBytes = int64_t{8} << 20;
constexpr int kMaxFailedPerCall = 4;     // failed snapshots one budget check tries at most
constexpr Millis kLoadPauseMs = 1000;    // no load tried this long after Redis was unreachable
constexpr Millis kBudgetRetryMs = 100;   // a hibernation put off is tried again this much later
std::atomic<int64_t> since_trim{0};

void freed(int64_t bytes) {
  if (since_trim.fetch_add(bytes) + bytes < kTrimBytes) return;
  since_trim = 0;
  malloc_trim(0);
}

const char* kind_name(LoadedCheckpoint::Kind k) {
  switch (k) {
    case LoadedCheckpoint::Kind::Found: return "found";
    case LoadedCheckpoint::Kind::Missing: return "missing";
    case LoadedCheckpoint::Kind::Refused: return "refused";
    case LoadedCheckpoint::Kind::Unavailable: return "unavailable";
  }
  return "?";
}

}  // namespace

void SessionHost::touch(Iter it) {
  Entry& e = it->second;
  if (e.in_lru) {
    lru_.splice(lru_.begin(), lru_, e.lru);  // O(1); the iterator stays valid
  } else {
    e.lru = lru_.insert(lru_.begin(), it->first);
    e.in_lru = true;
  }
}

void SessionHost::unlink(Entry& e) {
  if (!e.in_lru) return;
  lru_.erase(e.lru);
  e.in_lru = false;
}

void SessionHost::count_end(EndReason reason) {
  switch (reason) {
    case EndReason::Idle: stats_->ended_idle++; break;
    case EndReason::Lifetime: stats_->ended_lifetime++; break;
    case EndReason::App: stats_->ended_app++; break;
    case EndReason::Killed: stats_->ended_killed++; break;
    case EndReason::Shutdown: stats_->ended_shutdown++; break;
    case EndReason::Drained: stats_->ended_drained++; break;
  }
}

void SessionHost::enforce_budget(const SessionId* keep) {
  if (max_live_ == 0 || ckpt_sink_ == nullptr || ckpt_plans_ == nullptr || sessions_.size() <= max_live_) return;
  auto plans = ckpt_plans_->current();
  // Each session in the LRU is looked at once at most: one that cannot
  // hibernate now (its snapshot failed) goes to the front. An app whose
  // snapshots fail would make every request try them all: a few per call.
  int failed = 0;
  for (size_t tries = lru_.size(); tries > 0 && sessions_.size() > max_live_ && !lru_.empty(); --tries) {
    const SessionId sid = lru_.back();
    auto it = sessions_.find(sid);
    if (it == sessions_.end()) {  // never: an ended session leaves the LRU
      lru_.pop_back();
      continue;
    }
    if (keep != nullptr && sid == *keep) {  // being served: never evicted
      touch(it);
      continue;
    }
    Slept r = hibernate(it, plans.get());
    if (r == Slept::Deferred) {  // the writer cannot take records now: again a moment later
      budget_retry_at_ = std::min(budget_retry_at_, clock_.now_ms() + kBudgetRetryMs);
      return;
    }
    if (r == Slept::Failed) {
      auto again = sessions_.find(sid);
      if (again != sessions_.end() && again->second.in_lru) touch(again);
      if (++failed >= kMaxFailedPerCall) return;
    }
  }
}

SessionHost::Slept SessionHost::hibernate(Iter it, const CheckpointPlanMap* plans) {
  Entry& e = it->second;
  auto plan = plans ? plans->find(e.factory) : CheckpointPlanMap::const_iterator();
  if (plans == nullptr || plan == plans->end()) {  // its plan went with a reload: it stays in memory
    unlink(e);
    return Slept::Failed;
  }
  if (!ckpt_sink_->accepting()) {
    stats_->hibernate_deferred++;
    return Slept::Deferred;
  }
  std::optional<std::string> text = snapshot_text(it, plan->second);
  if (!text) return Slept::Failed;  // counted as a skipped checkpoint; it stays live
  Session* s = e.session.get();
  Sleeper z;
  z.factory = e.factory;
  z.app = plan->second.app;
  z.created = e.created;
  z.last_seen = e.last_seen;
  z.last_reported = e.last_reported;
  z.epoch = s->epoch_;
  z.at_ms = unix_millis();
  z.requests = s->requests_;
  z.start_reason = s->start_reason_;
  const int64_t bytes = static_cast<int64_t>(text->size());
  CheckpointRecord record{it->first, z.app, z.epoch, z.at_ms, unix_ms_of(e.created), std::move(*text)};
  record.keep = true;
  ckpt_sink_->checkpoint(std::move(record));
  stats_->checkpoints_taken++;
  const SessionId sid = it->first;
  unlink(e);
  sessions_.erase(it);  // the object goes (its destructor, not on_end: the session goes on)
  hibernated_.emplace(sid, std::move(z));  // its timer in timers_ stays
  stats_->live--;
  stats_->hibernated++;
  stats_->hibernations++;
  freed(bytes);
  return Slept::Yes;
}

SessionHost::Iter SessionHost::wake(Sleepers::iterator z, LoadedCheckpoint::Kind* why) {
  const SessionId sid = z->first;
  const Sleeper& zz = z->second;
  LoadedCheckpoint got;
  if (clock_.now_ms() < loads_paused_until_) {
    got.kind = LoadedCheckpoint::Kind::Unavailable;
    got.why = "Redis was unreachable a moment ago";
  } else if (ckpt_sink_) {
    got = ckpt_sink_->load(sid, zz.epoch, zz.app);
    if (got.kind == LoadedCheckpoint::Kind::Unavailable) loads_paused_until_ = clock_.now_ms() + kLoadPauseMs;
  }
  if (got.kind == LoadedCheckpoint::Kind::Found && got.at_ms < zz.at_ms) {
    // Never an older state than hibernation wrote: its write was lost (fenced, failed).
    got.kind = LoadedCheckpoint::Kind::Missing;
    got.why = "the record is older than the one hibernation wrote";
  }
  *why = got.kind;
  if (got.kind == LoadedCheckpoint::Kind::Unavailable) {
    if (log_now()) log::warn("wake_deferred", {{"session", sid.hex().substr(0, 12)}, {"why", got.why}});
    return sessions_.end();  // stays hibernated
  }
  std::unique_ptr<Session> s;
  std::string failed;
  if (got.kind != LoadedCheckpoint::Kind::Found) {
    failed = std::string(kind_name(got.kind)) + ": " + got.why;
  } else if (auto made = rebuild(zz.factory, sid, zz.requests, zz.start_reason, zz.epoch, got.state); made) {
    s = std::move(*made);
  } else {
    failed = made.message();
  }
  if (!failed.empty()) {
    *why = got.kind == LoadedCheckpoint::Kind::Found ? LoadedCheckpoint::Kind::Refused : got.kind;
    log::warn("wake_failed", {{"session", sid.hex().substr(0, 12)}, {"why", utf8_or_replaced(failed)},
                              {"effect", "the session ends without on_end"}});
    forget(z, EndReason::Killed);
    return sessions_.end();
  }
  Session* raw = s.get();
  Entry e{std::move(s), zz.created, zz.last_seen, zz.last_reported, zz.factory};
  e.ckpt_last = clock_.now_ms();
  e.ckpt_written = true;  // its record is there: the session's end deletes it
  hibernated_.erase(z);
  auto it = sessions_.emplace(sid, std::move(e)).first;
  touch(it);
  stats_->hibernated--;
  stats_->live++;
  stats_->woken++;
  try {
    raw->on_wake();
  } catch (const std::exception& ex) {
    stats_->handler_errors++;
    log::error("on_wake_threw", {{"session", raw->short_id()}, {"what", ex.what()}});
  }
  return it;
}

void SessionHost::forget(Sleepers::iterator z, EndReason reason) {
  const SessionId sid = z->first;
  if (ckpt_sink_) ckpt_sink_->checkpoint_ended(sid, z->second.epoch);  // fenced: only ours goes
  if (observer_) observer_->session_ended(sid, reason);
  hibernated_.erase(z);
  stats_->hibernated--;
  stats_->wake_failed++;
  clear_timers_if_empty();
}

void SessionHost::end_hibernated(Sleepers::iterator z, EndReason reason) {
  LoadedCheckpoint::Kind why = LoadedCheckpoint::Kind::Found;
  Iter it = wake(z, &why);
  if (it != sessions_.end()) {
    end(it, reason);  // on_end, exactly once
    return;
  }
  // Not woken: it ends without on_end (the object cannot be rebuilt now).
  if (why == LoadedCheckpoint::Kind::Unavailable) forget(z, reason);
  count_end(reason);
}

}  // namespace tether
