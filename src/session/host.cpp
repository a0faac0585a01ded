// SessionHost: a session thread's table of sessions and their timers (see host.h).
#include "session/host.h"

#include <algorithm>
#include <chrono>
#include <climits>

#include "common/json.h"
#include "common/log.h"

namespace tether {

SessionHost::SessionHost(const Clock& clock, SessionTimeouts timeouts, const std::string* route, int shard,
                         int shards, SessionStats* stats, SessionObserver* observer)
    : clock_(clock),
      timeouts_(timeouts),
      route_(route),
      shard_(shard),
      shards_(shards),
      stats_(stats),
      observer_(observer) {}

int64_t SessionHost::unix_ms_of(Millis steady) const {
  return unix_millis() - (clock_.now_ms() - steady);
}

SessionHost::~SessionHost() { end_all(EndReason::Shutdown); }

Millis SessionHost::deadline_of(Millis created, Millis last_seen) const {
  return std::min(last_seen + timeouts_.idle_ms, created + timeouts_.lifetime_ms);
}

void SessionHost::clear_timers_if_empty() {
  if (sessions_.empty() && hibernated_.empty()) timers_ = ckpt_timers_ = {};
}

Millis SessionHost::next_deadline() const {
  if ((sessions_.empty() && hibernated_.empty()) || timers_.empty()) return INT64_MAX;
  Millis d = std::min(timers_.top().deadline, budget_retry_at_);
  return ckpt_timers_.empty() ? d : std::min(d, ckpt_timers_.top().deadline);
}

SessionId SessionHost::new_id() const {
  for (;;) {
    SessionId id = SessionId::random();
    if (static_cast<int>(SessionIdHash{}(id) % static_cast<size_t>(shards_)) == shard_) return id;
  }
}

bool SessionHost::reserve(int64_t max_sessions) {
  if (max_sessions <= 0) {
    stats_->live++;
    return true;
  }
  // live is shared by every session thread of the worker: compare-and-set,
  // so that threads creating at once never take the worker past the bound.
  int64_t live = stats_->live.load();
  do {
    if (live >= max_sessions) return false;
  } while (!stats_->live.compare_exchange_weak(live, live + 1));
  return true;
}

Session* SessionHost::create(SessionJob& job, std::optional<StartReason> reason) {
  if (!reserve(job.max_sessions)) {
    job.full = true;
    stats_->refused_full++;
    return nullptr;
  }
  SessionId sid = job.existing ? new_id() : job.sid;  // never adopt an id the client named
  if (job.existing) job.reason_if_new = StartReason::Expired;
  if (reason) job.reason_if_new = *reason;
  std::unique_ptr<Session> s;
  try {
    s = (*job.factory)();
  } catch (const std::exception& e) {
    log::error("session_constructor_threw", {{"what", e.what()}});
  }
  if (!s) {
    stats_->live--;  // the reservation
    return nullptr;
  }
  s->route_ = route_;
  s->start_reason_ = job.reason_if_new;
  Session* raw = s.get();
  Millis now = clock_.now_ms();
  auto [it, inserted] = sessions_.try_emplace(sid, Entry{nullptr, now, now});
  while (!inserted) {  // 128 random bits collide only if a caller reused an id
    sid = new_id();
    std::tie(it, inserted) = sessions_.try_emplace(sid, Entry{nullptr, now, now});
  }
  std::copy(sid.bytes.begin(), sid.bytes.end(), s->id_);
  it->second.session = std::move(s);
  it->second.last_reported = now;
  it->second.ckpt_last = now;  // the first checkpoint after one interval: the registry entry is there by then
  it->second.factory = job.factory;
  timers_.push(Timer{deadline_of(it->second), sid});
  if (observer_) observer_->session_created(sid, unix_ms_of(now));
  job.created = true;
  job.created_sid = sid;
  stats_->created++;
  try {
    raw->on_start(job.reason_if_new);
  } catch (const std::exception& e) {
    stats_->handler_errors++;
    log::error("on_start_threw", {{"session", raw->short_id()}, {"what", e.what()}});
  }
  return raw;
}

void SessionHost::serve(SessionJob& job) {
  Millis now = clock_.now_ms();
  auto it = job.existing ? sessions_.find(job.sid) : sessions_.end();
  std::optional<StartReason> lost;  // the session was hibernated and cannot be woken
  if (it == sessions_.end() && job.existing && !hibernated_.empty()) {
    auto z = hibernated_.find(job.sid);
    if (z != hibernated_.end()) {
      const Sleeper& zz = z->second;
      if (deadline_of(zz.created, zz.last_seen) <= now) {  // over: ends (woken for on_end), then as below
        end_hibernated(z, expiry(zz.last_seen, now));
      } else if (job.token_epoch > job.epoch) {
        job.stale = true;
        return;
      } else {
        LoadedCheckpoint::Kind why = LoadedCheckpoint::Kind::Found;
        it = wake(z, &why);
        if (it == sessions_.end() && why == LoadedCheckpoint::Kind::Unavailable) {
          job.response = Response::text("the session is hibernated and its store is unreachable: try again\n", 503);
          job.response.headers.emplace_back("Retry-After", "1");
          return;
        }
        if (it == sessions_.end()) lost = StartReason::Lost;
      }
    }
  }
  // A session past its deadline that sweep() has not reached yet is over.
  if (it != sessions_.end() && deadline_of(it->second) <= now) {
    end(it, expiry(it->second.last_seen, now));
    it = sessions_.end();
  }
  // The client was served by a newer owner than this copy: never answer from it.
  if (it != sessions_.end() && job.token_epoch > job.epoch) {
    job.stale = true;
    return;
  }
  Session* s;
  if (it == sessions_.end() && job.existing) {
    auto moved = moved_.find(job.sid);
    if (moved != moved_.end()) {
      job.moved_to = moved->second;  // the acceptor forwards it to the new owner
      return;
    }
    if (!job.create_if_missing && !lost) {  // a wake that failed: it was ours, a new one here (lost)
      job.missing = true;
      return;
    }
  }
  if (it == sessions_.end()) {
    s = create(job, lost);
    if (s == nullptr && job.full) return;  // the acceptor answers (503, Retry-After)
    if (s == nullptr) {
      stats_->handler_errors++;
      job.response = Response::text("internal error: the session could not be created\n", 500);
      return;
    }
    it = sessions_.find(job.created_sid);
  } else {
    s = it->second.session.get();
    it->second.last_seen = now;
    if (observer_ && now - it->second.last_reported >= timeouts_.report_ms) {
      it->second.last_reported = now;
      observer_->session_used(it->first, unix_ms_of(it->second.created));
    }
  }
  s->requests_++;
  s->epoch_ = job.created ? 1 : std::max<int64_t>(job.epoch, 1);
  stats_->requests++;
  try {
    job.response = s->handle(job.request);
  } catch (const std::exception& e) {
    stats_->handler_errors++;
    log::error("handler_threw", {{"session", s->short_id()}, {"path", job.request.path}, {"what", e.what()}});
    job.response = Response::text("internal error\n", 500);
  } catch (...) {
    stats_->handler_errors++;
    log::error("handler_threw", {{"session", s->short_id()}, {"path", job.request.path}});
    job.response = Response::text("internal error\n", 500);
  }
  if (s->end_requested_) {
    end(it, EndReason::App);
    job.ended = true;
  } else if (s->rotate_requested_) {
    rotate(it, job);
  } else {
    after_request(it, now);
  }
}

void SessionHost::rotate(std::unordered_map<SessionId, Entry, SessionIdHash>::iterator it, SessionJob& job) {
  const SessionId old_sid = it->first;
  SessionId sid = new_id();  // of this shard: the pool finds it on the same thread
  while (sessions_.count(sid) != 0 || moved_.count(sid) != 0) sid = new_id();
  Entry e = std::move(it->second);
  if (e.in_lru) *e.lru = sid;  // same place in the LRU, new name
  checkpoint_ended(old_sid, e);  // the old id's record goes with it
  e.ckpt_written = false;
  e.ckpt_due = INT64_MAX;
  e.ckpt_last = clock_.now_ms();  // the new id's entry is written first
  sessions_.erase(it);  // the old id is retired: nothing here finds it again
  Session* s = e.session.get();
  s->rotate_requested_ = false;
  std::copy(sid.bytes.begin(), sid.bytes.end(), s->id_);
  s->epoch_ = 1;  // a new id starts its ownership history afresh
  e.last_reported = clock_.now_ms();
  const int64_t created = unix_ms_of(e.created);
  timers_.push(Timer{deadline_of(e), sid});  // the old id's timer is skipped as ended
  sessions_.emplace(sid, std::move(e));
  if (observer_) observer_->session_rotated(old_sid, sid, created);
  job.rotated = true;
  job.rotated_sid = sid;
  if (job.created) job.created_sid = sid;
  stats_->rotated++;
}

void SessionHost::end(std::unordered_map<SessionId, Entry, SessionIdHash>::iterator it, EndReason reason) {
  checkpoint_ended(it->first, it->second);  // an ended session is never recovered
  std::unique_ptr<Session> s = std::move(it->second.session);
  if (observer_) observer_->session_ended(it->first, reason);
  unlink(it->second);
  sessions_.erase(it);  // erase first: on_end may not find itself again
  clear_timers_if_empty();  // all stale now
  stats_->live--;
  count_end(reason);
  try {
    s->on_end(reason);
  } catch (const std::exception& e) {
    stats_->handler_errors++;
    log::error("on_end_threw", {{"session", s->short_id()}, {"what", e.what()}});
  }
}

size_t SessionHost::sweep() {
  Millis now = clock_.now_ms();
  sweep_checkpoints(now);
  size_t ended = 0;
  while (!timers_.empty() && timers_.top().deadline <= now) {
    Timer t = timers_.top();
    timers_.pop();
    auto it = sessions_.find(t.sid);
    if (it == sessions_.end()) {
      auto z = hibernated_.find(t.sid);
      if (z == hibernated_.end()) continue;  // ended already
      Millis d = deadline_of(z->second.created, z->second.last_seen);
      if (d > now) {
        timers_.push(Timer{d, t.sid});
        continue;
      }
      end_hibernated(z, expiry(z->second.last_seen, now));
      ++ended;
      continue;
    }
    Millis d = deadline_of(it->second);
    if (d > now) {
      timers_.push(Timer{d, t.sid});  // used since: wait again
      continue;
    }
    end(it, expiry(it->second.last_seen, now));
    ++ended;
  }
  if (budget_retry_at_ <= now) budget_retry_at_ = INT64_MAX;
  enforce_budget(nullptr);  // sessions the writer could not take before (it sets the retry again)
  return ended;
}

bool SessionHost::kill(const SessionId& sid) {
  auto it = sessions_.find(sid);
  if (it != sessions_.end()) {
    end(it, EndReason::Killed);
    return true;
  }
  auto z = hibernated_.find(sid);
  if (z == hibernated_.end()) return false;
  end_hibernated(z, EndReason::Killed);
  return true;
}

void SessionHost::end_all(EndReason reason) {
  while (!sessions_.empty()) end(sessions_.begin(), reason);
  // Hibernated ones are woken one at a time for on_end (a Redis read each).
  while (!hibernated_.empty()) {
    end_hibernated(hibernated_.begin(), reason);
  }
  timers_ = ckpt_timers_ = {};
}

}  // namespace tether
