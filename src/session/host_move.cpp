// SessionHost's moves between workers (see host.h): drain hands sessions
// over (hand_over, hibernated ones woken first), a peer's hand-over or a
// recovery makes one here (adopt), and a take-over that failed takes it
// back out (drop). Runs on the session thread that owns the host.
#include <algorithm>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "session/host.h"

namespace tether {

bool SessionHost::offer(Iter it, const Sender& send) {
  Session* s = it->second.session.get();
  std::optional<nlohmann::json> state;
  try {
    state = s->snapshot();
  } catch (const std::exception& e) {
    log::error("snapshot_threw", {{"session", s->short_id()}, {"what", e.what()}});
  }
  if (!state) return false;
  nlohmann::json envelope = {{"sid", it->first.hex()},
                             {"created", unix_ms_of(it->second.created)},
                             {"requests", s->requests_},
                             {"start_reason", to_string(s->start_reason_)},
                             {"state", std::move(*state)}};
  std::string owner = send(it->first, it->second.factory, envelope);
  if (owner.empty()) return false;
  moved_[it->first] = owner;
  unlink(it->second);
  sessions_.erase(it);  // no on_end: the session goes on elsewhere
  stats_->live--;
  stats_->moved_out++;
  return true;
}

size_t SessionHost::hand_over(const Sender& send) {
  size_t moved = 0;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    auto next = std::next(it);
    if (offer(it, send)) ++moved;
    it = next;
  }
  // Hibernated sessions: woken one at a time and offered at once, so that
  // memory never holds more than one of them beyond the live ones. One that
  // cannot be loaded now (Redis down) stays hibernated: if this worker then
  // stops, it is ended at shutdown (woken for on_end if Redis is back), and
  // if the worker dies, recovered elsewhere from the same record.
  std::vector<SessionId> sleepers;
  sleepers.reserve(hibernated_.size());
  for (const auto& [sid, z] : hibernated_) sleepers.push_back(sid);
  for (const SessionId& sid : sleepers) {
    auto z = hibernated_.find(sid);
    if (z == hibernated_.end()) continue;
    LoadedCheckpoint::Kind why = LoadedCheckpoint::Kind::Found;
    Iter it = wake(z, &why);
    if (it != sessions_.end() && offer(it, send)) ++moved;
  }
  clear_timers_if_empty();
  return moved;
}

Result<std::unique_ptr<Session>> SessionHost::rebuild(const SessionFactory* factory, const SessionId& sid,
                                                      uint64_t requests, StartReason reason, int64_t epoch,
                                                      const nlohmann::json& state) const {
  using R = Result<std::unique_ptr<Session>>;
  try {
    std::unique_ptr<Session> s = (*factory)();
    if (!s) return R::error("the app made no session");
    s->route_ = route_;
    std::copy(sid.bytes.begin(), sid.bytes.end(), s->id_);
    s->requests_ = requests;
    s->start_reason_ = reason;
    s->epoch_ = epoch;
    if (!s->restore(state)) return R::error("restore() refused the state");
    return s;
  } catch (const std::exception& e) {
    return R::error(std::string("restore() threw: ") + e.what());
  } catch (...) {
    return R::error("restore() threw");
  }
}

Status SessionHost::adopt(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope,
                          bool recovered) {
  if (sessions_.count(sid) || hibernated_.count(sid)) return Status::error("the session is here already");
  const nlohmann::json* state = field(envelope, "state");
  auto made = rebuild(factory, sid, static_cast<uint64_t>(std::max<int64_t>(0, int_field(envelope, "requests").value_or(0))),
                      recovered ? StartReason::Recovered
                                : parse_start_reason(string_field(envelope, "start_reason").value_or("new")),
                      1, state ? *state : nlohmann::json());
  if (!made) return made.status();
  std::unique_ptr<Session> s = std::move(*made);
  Millis now = clock_.now_ms();
  Millis created = now - std::max<int64_t>(0, unix_millis() - int_field(envelope, "created").value_or(unix_millis()));
  Session* raw = s.get();
  Entry e{std::move(s), created, now, now, factory};
  e.ckpt_last = now;
  timers_.push(Timer{deadline_of(e), sid});
  // It joins the LRU (may hibernate) at its first request here, which tells it its epoch.
  sessions_.emplace(sid, std::move(e));
  moved_.erase(sid);  // it may come back to a worker it left
  stats_->live++;
  if (!recovered) {
    stats_->moved_in++;
    enforce_budget(&sid);
    return Status::ok();
  }
  stats_->recovered++;
  try {
    raw->on_start(StartReason::Recovered);
  } catch (const std::exception& e) {
    stats_->handler_errors++;
    log::error("on_start_threw", {{"session", raw->short_id()}, {"what", e.what()}});
  }
  enforce_budget(&sid);
  return Status::ok();
}

bool SessionHost::drop(const SessionId& sid, bool adopted) {
  auto it = sessions_.find(sid);
  if (it != sessions_.end()) {
    unlink(it->second);
    sessions_.erase(it);  // no on_end, no observer: the session is another worker's
    stats_->live--;
  } else {
    auto z = hibernated_.find(sid);
    if (z == hibernated_.end()) return false;
    hibernated_.erase(z);  // its record is the new owner's business (fenced by epoch)
    stats_->hibernated--;
  }
  clear_timers_if_empty();
  if (adopted) {
    stats_->moved_in--;  // it never moved in
  } else {
    stats_->dropped_stale++;
  }
  return true;
}

}  // namespace tether
