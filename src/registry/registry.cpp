// The registry thread (see registry.h).
#include "registry/registry.h"

#include <unistd.h>

#include <chrono>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/log.h"
#include "common/route.h"
#include "redis/reply.h"
#include "registry/decode.h"

namespace tether {
namespace {

constexpr size_t kBatch = 5000;  // reports per pipelined round trip
constexpr int64_t kMaxBackoffMs = Backoff::kDefaultMaxMs;  // between reconnect attempts
constexpr size_t kPoolIdle = 8;  // idle connections kept for other threads
constexpr std::chrono::milliseconds kCoalesce{2};  // a busy round waits this long for more reports
constexpr std::chrono::milliseconds kBusy{20};     // busy: the last round wrote less than this ago

// After an outage, the workers of `before` missing from `now`: each worker
// reconnects after its own back-off, so for a while the directory Redis
// lists is short of workers that are alive and still own their sessions.
void keep_missing(std::vector<registry::WorkerInfo>& now, const std::vector<registry::WorkerInfo>& before) {
  size_t listed = now.size();
  for (const auto& w : before) {
    bool found = false;
    for (size_t i = 0; i < listed && !found; ++i) found = now[i].host == w.host && now[i].worker == w.worker;
    if (!found) now.push_back(w);
  }
}

}  // namespace

Registry::Registry(RegistryConfig config, Hooks hooks)
    : config_(std::move(config)), hooks_(std::move(hooks)), accepting_(config_.accepting), redis_(config_.redis),
      pool_(config_.redis, kPoolIdle) {}

Registry::~Registry() { stop(); }

void Registry::start() {
  started_ms_ = unix_millis();
  thread_ = std::thread([this] { loop(); });
}

void Registry::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Registry::queue(const SessionId& sid, Op op, bool wake) {
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (wake && !woken_) notify = woken_ = true;  // once per round: the coming round takes the others
    if (op.release) releasing_.insert(sid);
    auto [it, inserted] = ops_.try_emplace(sid, op);
    if (inserted) {
      if (op.fresh) fresh_++;
    } else if (op.release && it->second.fresh) {
      // Ended before its first write, which no one fenced: nothing is in
      // Redis to remove (a fresh id is new, never written by any run).
      fresh_--;
      ops_.erase(it);
      releasing_.erase(sid);
    } else if (op.release || it->second.release) {
      // A release wins over anything; a use after a pending create changes nothing.
      if (it->second.fresh) fresh_--;
      it->second = op;
      if (op.fresh) fresh_++;
    }
    stats_.pending = static_cast<int64_t>(ops_.size());
  }
  if (notify) cv_.notify_one();
}

void Registry::session_created(const SessionId& sid, int64_t created_unix_ms) {
  queue(sid, Op{false, true, created_unix_ms}, true);
}
void Registry::session_used(const SessionId& sid, int64_t created_unix_ms) {
  queue(sid, Op{false, false, created_unix_ms}, false);  // written with the next batch or heartbeat
}
void Registry::session_ended(const SessionId& sid, EndReason /*reason*/) { queue(sid, Op{true, false, 0}, true); }
void Registry::session_rotated(const SessionId& old_sid, const SessionId& new_sid, int64_t created_unix_ms) {
  queue(new_sid, Op{false, true, created_unix_ms}, false);
  queue(old_sid, Op{true, false, 0}, true);  // one wake-up: both go in the next batch
}

void Registry::requeue(OpMap& ops) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [sid, op] : ops) {
      op.fresh = false;  // it may have reached Redis: from now on the create-if-absent script
      ops_.try_emplace(sid, op);  // a newer report wins
    }
    stats_.pending = static_cast<int64_t>(ops_.size());
    ops.clear();
  }
  end_in_flight();
}

void Registry::outage_started(const std::string& error) {
  stats_.errors++;
  stats_.up = false;
  redis_.close();
  if (!backoff_.down()) return;  // logged when it began
  stats_.outages++;
  log::error("redis_down", {{"error", error}, {"effect", "sessions keep working; registry writes wait"}});
}

bool Registry::ensure_connected() {
  redis_.drop_if_closed();  // a restarted Redis: the path below loads scripts and writes every session again
  if (redis_.connected()) return true;
  Status s = redis_.connect();
  if (s) {
    auto shas = load_scripts(redis_, {registry::upsert_script(), registry::release_script()});
    stats_.commands += 2;
    if (shas) {
      upsert_sha_ = (*shas)[0];
      release_sha_ = (*shas)[1];
    } else {
      s = shas.status();
    }
  }
  if (!s) {
    outage_started(s.message());
    return false;
  }
  if (auto down_ms = backoff_.up()) {
    log::info("redis_up", {{"down_ms", *down_ms}});
    back_ms_ = unix_millis();
  }
  stats_.up = true;
  // Redis may have restarted empty, or missed writes: write every live session again.
  if (hooks_.snapshot) {
    std::vector<std::pair<SessionId, int64_t>> all;
    firewall::guard("registry.snapshot_hook", [&] { all = hooks_.snapshot(); });
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [sid, created] : all) ops_.try_emplace(sid, Op{false, false, created});
    stats_.pending = static_cast<int64_t>(ops_.size());
  }
  return true;
}

bool Registry::write_ops(OpMap& ops) {
  int64_t now = unix_millis();
  std::vector<SessionId> order;  // one entry per reply
  std::vector<int64_t> used;     // the epoch each was written at
  order.reserve(ops.size());
  used.reserve(ops.size());
  std::vector<size_t> at;         // the index of each one's first reply
  at.reserve(ops.size());
  size_t replies_expected = 0;
  for (auto& [sid, op] : ops) {
    int64_t epoch = epoch_of(sid);
    at.push_back(replies_expected);
    order.push_back(sid);
    used.push_back(epoch);
    if (op.fresh && !op.release && epoch == 1) {  // the first write, unfenced (see registry.h)
      registry::append_fresh_create(redis_, sid, config_.me, op.created_ms, now, config_.session_ttl_ms);
      replies_expected += 2;
      continue;
    }
    op.fresh = false;
    replies_expected++;
    // A refresh, or a create fenced by epoch(): the create-if-absent script;
    // an entry another owner wrote meanwhile is left alone (lost).
    std::vector<std::string> argv =
        op.release ? registry::release_argv(config_.redis.prefix, sid, config_.me, epoch)
                   : registry::upsert_argv(config_.redis.prefix, sid, config_.me, epoch, op.created_ms, now,
                                           config_.session_ttl_ms);
    if (op.release && epoch != 1) {
      std::lock_guard<std::mutex> lock(epochs_mu_);
      epochs_.erase(sid);
    }
    argv[0] = "EVALSHA";
    argv[1] = op.release ? release_sha_ : upsert_sha_;
    redis_.append(argv);
  }
  stats_.commands += replies_expected;
  auto replies = redis_.flush();
  if (!replies) {
    outage_started(replies.message());
    return false;  // requeued by the caller: never unconditional again
  }
  end_in_flight();  // every first write of this round has its reply
  if (Status n = expect_replies(*replies, replies_expected); !n) {
    outage_started("registry writes: " + n.message());  // written again: the scripts are idempotent
    return false;
  }
  std::vector<SessionId> lost;
  for (size_t i = 0; i < order.size(); ++i) {
    const redisReply* r = (*replies)[at[i]].get();
    if (r->type == REDIS_REPLY_ERROR) {
      stats_.errors++;
      log::error("registry_write_failed", {{"error", reply_string(r)}});
      continue;
    }
    const Op& op = ops[order[i]];
    if (op.fresh) {
      // HSET's count of fields added: fewer than all when an entry was there
      // (an id made twice: 2^-128; counted, as nothing else can cause it).
      if (reply_integer(r) != registry::kFreshFields) {
        stats_.errors++;
        log::error("registry_create_found_entry", {{"session", order[i].hex().substr(0, 12)}});
      }
      continue;
    }
    if (op.release) {
      std::lock_guard<std::mutex> lock(mu_);
      auto again = ops_.find(order[i]);  // ended again meanwhile (a recovered copy): still releasing
      if (again == ops_.end() || !again->second.release) releasing_.erase(order[i]);
      continue;
    }
    if (reply_integer(r) != 0) continue;
    // Refused at the epoch read before the round trip: if a hand-over moved
    // the epoch meanwhile (reclaim, take-over), the refusal says nothing
    // about the owner now; the next report is written at the new epoch.
    if (epoch_of(order[i]) != used[i]) continue;
    lost.push_back(order[i]);
  }
  ops.clear();
  for (const auto& sid : lost) {
    stats_.lost_ownership++;
    log::warn("session_owned_elsewhere", {{"session", sid.hex().substr(0, 12)}, {"effect", "ended here"}});
    if (hooks_.lost) firewall::guard("registry.lost_hook", [&] { hooks_.lost(sid); });
  }
  return true;
}

bool Registry::heartbeat() {
  int64_t now = unix_millis();
  registry::WorkerInfo me;
  me.host = config_.me.host;
  me.worker = config_.me.worker;
  me.addr = config_.me.addr;
  me.accepting = accepting_.load();
  if (hooks_.live_sessions) firewall::guard("registry.live_sessions_hook", [&] { me.sessions = hooks_.live_sessions(); });
  me.pid = getpid();
  me.started_ms = started_ms_;
  if (hooks_.figures) firewall::guard("registry.figures_hook", [&] { me.figures = hooks_.figures(); });
  registry::append_heartbeat(redis_, me, now, config_.heartbeat_ms);
  auto hb = redis_.flush();
  stats_.commands += 4;
  if (!hb) {
    outage_started(hb.message());
    return false;
  }
  auto workers = registry::read_workers(redis_, now, config_.heartbeat_ms);
  if (!workers) {
    outage_started(workers.message());
    return false;
  }
  stats_.commands += 1 + workers->size();
  std::vector<registry::WorkerInfo> listed = without_impostors(std::move(workers.value()));
  // Until every worker had time to reconnect and beat again, those of the
  // directory before the outage stay in it: a request for a session of
  // theirs is forwarded, and the quick timeout decides whether it is lost.
  if (back_ms_ != 0 && now < back_ms_ + kMaxBackoffMs + 3 * int64_t{config_.heartbeat_ms}) {
    if (auto before = Registry::workers()) keep_missing(listed, *before);
  }
  auto dir = std::make_shared<const std::vector<registry::WorkerInfo>>(std::move(listed));
  std::lock_guard<std::mutex> lock(dir_mu_);
  dir_ = std::move(dir);
  return true;
}

void Registry::loop() {
  using namespace std::chrono;
  Round round;
  round.next_heartbeat = steady_clock::now();
  for (;;) {
    bool done = false;
    if (!firewall::guard("registry.loop", [&] { done = loop_once(round); })) {
      // Something below threw: the batch it held is taken again; wait before
      // the next round so a fault that repeats cannot spin.
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, milliseconds(100), [&] { return stopping_; });
      done = stopping_;
    }
    if (done) break;
  }
  end_in_flight();
  // Leave the directory at once rather than after three missed heartbeats.
  firewall::guard("registry.leave", [&] {
    if (!redis_.connected()) return;
    std::string name = registry::worker_name(config_.me.host, config_.me.worker);
    redis_.append({"ZREM", config_.redis.prefix + "workers", name});
    redis_.append({"DEL", config_.redis.prefix + "worker:" + name});
    if (!redis_.flush()) log::warn("redis_leave_failed");
  });
}

bool Registry::loop_once(Round& round) {
  using namespace std::chrono;
  OpMap& batch = round.batch;
  if (!batch.empty()) requeue(batch);  // left by a round that threw
  bool stopping;
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto wake = redis_.connected() ? round.next_heartbeat : steady_clock::now() + milliseconds(backoff_.delay_ms());
    cv_.wait_until(lock, wake, [&] { return stopping_ || (!ops_.empty() && redis_.connected()); });
    // Busy (the last round wrote within kBusy): reports that come within
    // kCoalesce of the first go in the same round, one round trip for many
    // new sessions, not one each (nobody wakes the thread meanwhile:
    // queue() wakes it once a round, woken_). Idle: written at once.
    if (!stopping_ && !ops_.empty() && redis_.connected() && steady_clock::now() - round.last_write < kBusy) {
      cv_.wait_for(lock, kCoalesce, [&] { return stopping_; });
    }
    stopping = stopping_;
    woken_ = false;  // a report from now on wakes the thread again
    // Take at most one batch; the rest waits for the next round.
    for (auto it = ops_.begin(); it != ops_.end() && batch.size() < kBatch;) {
      batch.insert(*it);
      it = ops_.erase(it);
    }
    start_in_flight(batch);
    stats_.pending = static_cast<int64_t>(ops_.size());
  }
  if (!ensure_connected()) {
    requeue(batch);
    backoff_.grow();
    return stopping;  // Redis is down and we stop: what is pending is lost with the process
  }
  backoff_.reset();
  recheck_after_stall(round);
  if (!batch.empty()) round.last_write = steady_clock::now();
  if (!batch.empty() && !write_ops(batch)) requeue(batch);
  batch.clear();
  end_in_flight();
  if (steady_clock::now() >= round.next_heartbeat) {
    round.next_heartbeat = steady_clock::now() + milliseconds(config_.heartbeat_ms);
    heartbeat();
  }
  if (stopping) {
    std::lock_guard<std::mutex> lock(mu_);
    if (ops_.empty() || !redis_.connected()) return true;
  }
  return false;
}

void Registry::recheck_after_stall(Round& round) {
  using namespace std::chrono;
  auto now = steady_clock::now();
  auto last = round.last_round;
  round.last_round = now;
  // Stopped (SIGSTOP) or starved past three heartbeats, the directory's
  // window: other workers may have recovered sessions of this one meanwhile.
  // Every live session is written again in this round, so that those owned
  // elsewhere now are found (lost ownership: ended here) at once rather
  // than at their next report.
  if (last == steady_clock::time_point{} || now - last <= milliseconds(3 * config_.heartbeat_ms)) return;
  if (!hooks_.snapshot) return;
  stats_.stalls++;
  std::vector<std::pair<SessionId, int64_t>> all;
  firewall::guard("registry.snapshot_hook", [&] { all = hooks_.snapshot(); });
  log::warn("registry_stalled", {{"gap_ms", duration_cast<milliseconds>(now - last).count()},
                                 {"sessions", all.size()},
                                 {"effect", "every session's ownership is checked again now"}});
  for (auto& [sid, created] : all) round.batch.try_emplace(sid, Op{false, false, created});
}

std::vector<registry::WorkerInfo> Registry::without_impostors(std::vector<registry::WorkerInfo> workers) {
  std::vector<registry::WorkerInfo> out;
  out.reserve(workers.size());
  for (auto& w : workers) {
    bool me = w.host == config_.me.host && w.worker == config_.me.worker;
    if (!me && w.addr == config_.me.addr) {
      // Another name at this worker's address: forwarding there comes back here.
      firewall::refused(registry::kSelfEntry, registry::worker_name(w.host, w.worker) +
                                                  " claims this worker's address " + w.addr);
      continue;
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::shared_ptr<const std::vector<registry::WorkerInfo>> Registry::workers() const {
  std::lock_guard<std::mutex> lock(dir_mu_);
  return dir_;
}

}  // namespace tether
