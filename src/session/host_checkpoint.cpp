// SessionHost's checkpoints (see host.h, session/checkpoint.h): on the
// session's turn, after a request or on a timer, snapshot() is taken at most
// once per interval and handed to the sink; one that throws, gives no state
// or is larger than max_snapshot_bytes is counted and skipped, and the
// session goes on. Runs on whichever thread holds the session's turn.
#include <algorithm>
#include <atomic>

#include "common/clock.h"
#include "common/json.h"
#include "common/log.h"
#include "session/host.h"

namespace tether {
namespace {

// A failing snapshot() fails on every interval of every session of its app:
// logged at most once a second per worker.
bool log_now() {
  static std::atomic<int64_t> last{0};
  return log::every(last, 1000);
}

}  // namespace

void SessionHost::after_request(Iter it, Millis now) {
  if (ckpt_sink_ == nullptr || ckpt_plans_ == nullptr) return;
  auto plans = ckpt_plans_->current();
  if (!plans) return;
  auto plan = plans->find(it->second.factory);
  if (plan == plans->end()) return;
  Entry& e = it->second;
  touch(it);
  if (now - e.ckpt_last >= plan->second.every_ms) {
    take_checkpoint(it, now, plan->second);
  } else if (e.ckpt_due == INT64_MAX) {  // a change to keep: when the interval is over
    e.ckpt_due = e.ckpt_last + plan->second.every_ms;
    ckpt_timers_.push(Timer{e.ckpt_due, it->first});
  }
  const SessionId keep = it->first;
  enforce_budget(&keep);
}

void SessionHost::take_checkpoint(Iter it, Millis now, const CheckpointPlan& plan) {
  Entry& e = it->second;
  e.ckpt_last = now;
  e.ckpt_due = INT64_MAX;
  std::optional<std::string> text = snapshot_text(it, plan);
  if (!text) return;
  ckpt_sink_->checkpoint(CheckpointRecord{it->first, plan.app, e.session->epoch_, unix_millis(),
                                          unix_ms_of(e.created), std::move(*text)});
  e.ckpt_written = true;
  stats_->checkpoints_taken++;
}

std::optional<std::string> SessionHost::snapshot_text(Iter it, const CheckpointPlan& plan) {
  Session* s = it->second.session.get();
  std::optional<nlohmann::json> state;
  std::string why;
  try {
    state = s->snapshot();
    if (!state) why = "snapshot() gave no state";
  } catch (const std::exception& ex) {
    why = std::string("snapshot() threw: ") + ex.what();
  } catch (...) {
    why = "snapshot() threw";
  }
  if (!state) {
    stats_->checkpoints_skipped_failed++;
    if (log_now()) log::warn("checkpoint_skipped", {{"session", s->short_id()}, {"app", plan.app}, {"why", why}});
    return std::nullopt;
  }
  std::string text = json_text(*state);
  if (json_depth(text, kMaxJsonDepth) >= kMaxJsonDepth) {  // the record nests it once more: unreadable
    stats_->checkpoints_skipped_failed++;
    if (log_now()) log::warn("checkpoint_skipped", {{"session", s->short_id()}, {"app", plan.app}, {"why", "nested too deep"}});
    return std::nullopt;
  }
  if (static_cast<int64_t>(text.size()) > ckpt_plans_->max_snapshot_bytes()) {
    stats_->checkpoints_skipped_too_large++;
    if (log_now()) {
      log::warn("checkpoint_skipped", {{"session", s->short_id()},
                                       {"app", plan.app},
                                       {"why", "larger than max_snapshot_bytes"},
                                       {"bytes", text.size()}});
    }
    return std::nullopt;
  }
  return text;
}

void SessionHost::sweep_checkpoints(Millis now) {
  while (!ckpt_timers_.empty() && ckpt_timers_.top().deadline <= now) {
    Timer t = ckpt_timers_.top();
    ckpt_timers_.pop();
    auto it = sessions_.find(t.sid);
    // Ended, or taken on a request since (its due is later or none): stale.
    if (it == sessions_.end() || it->second.ckpt_due > now) continue;
    auto plans = ckpt_plans_ ? ckpt_plans_->current() : nullptr;
    auto plan = plans ? plans->find(it->second.factory) : CheckpointPlanMap::const_iterator();
    if (!plans || plan == plans->end()) {  // the plan went with a reload
      it->second.ckpt_due = INT64_MAX;
      continue;
    }
    take_checkpoint(it, now, plan->second);
  }
}

void SessionHost::checkpoint_ended(const SessionId& sid, const Entry& e) {
  if (ckpt_sink_ == nullptr || !e.ckpt_written || !e.session) return;
  ckpt_sink_->checkpoint_ended(sid, e.session->epoch_);
}

}  // namespace tether
