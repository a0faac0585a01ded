// Registry: the ownership moves of single sessions (see registry.h):
// take-over on a hand-over's receiver, the sender's fence (reclaim) and the
// sids it left unsettled, the epochs this worker holds sessions at, and the
// fence of a new session's first write (epoch()), and lookup() of an entry
// this worker does not hold.
// Any thread: each call leases a connection of its own from the pool; the epoch and unsettled
// maps are under epochs_mu_.
#include "common/clock.h"
#include "common/firewall.h"
#include "common/log.h"
#include "common/route.h"
#include "registry/decode.h"
#include "registry/registry.h"

namespace tether {

void Registry::start_in_flight(const OpMap& batch) {
  for (const auto& [sid, op] : batch) {
    if (op.fresh) in_flight_.insert(sid);  // counted in fresh_ already (moved from ops_)
  }
}

void Registry::end_in_flight() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (in_flight_.empty()) return;
    fresh_ -= in_flight_.size();
    in_flight_.clear();
  }
  in_flight_cv_.notify_all();
}

void Registry::fence_create(const SessionId& sid) {
  if (fresh_.load(std::memory_order_acquire) == 0) return;  // the usual case: no lock
  std::unique_lock<std::mutex> lock(mu_);
  auto it = ops_.find(sid);
  if (it != ops_.end() && it->second.fresh) {
    it->second.fresh = false;  // queued: written by the create-if-absent script instead
    fresh_--;
  }
  // On the wire: wait for its reply (the registry thread ends every round's
  // flight, on success, failure or throw; the bound is a safety net only).
  auto bound = std::chrono::milliseconds(2 * int64_t{config_.redis.io_timeout_ms} + 1000);
  if (!in_flight_cv_.wait_for(lock, bound, [&] { return in_flight_.count(sid) == 0; })) {
    stats_.errors++;
    log::error("registry_fence_timeout", {{"session", sid.hex().substr(0, 12)}});
  }
}

int64_t Registry::epoch(const SessionId& sid) {
  fence_create(sid);
  return epoch_of(sid);
}

int64_t Registry::epoch_of(const SessionId& sid) {
  if (epochs_.size_now.load(std::memory_order_acquire) == 0) return 1;  // the usual case: no lock
  std::lock_guard<std::mutex> lock(epochs_mu_);
  if (epochs_.empty()) return 1;
  auto it = epochs_.map.find(sid);
  return it == epochs_.map.end() ? 1 : it->second;
}

Status Registry::take_over(const SessionId& sid, const registry::Owner& from, int64_t from_epoch,
                           int64_t created_ms) {
  auto lease = pool_.acquire();  // a connection of its own, for this call
  Redis& conn = *lease;
  if (from_epoch <= 0) {  // a sender that did not say: the epoch now (the owner is compared in the script)
    auto entry = registry::read_session(conn, sid);
    stats_.commands++;
    if (!entry) {
      stats_.errors++;
      return entry.status();
    }
    from_epoch = entry->has_value() ? (*entry)->epoch : 1;
  }
  const std::string& p = config_.redis.prefix;
  auto r = conn.command(
      registry::transfer_argv(p, sid, from, from_epoch, config_.me, unix_millis(), config_.session_ttl_ms));
  stats_.commands++;
  if (!r) return r.status();
  int64_t epoch = reply_integer(r->get());
  if (epoch < 0) {  // Redis lost it: ours, created if absent above the sender's epoch
    epoch = from_epoch + 1;
    auto c = conn.command(
        registry::upsert_argv(p, sid, config_.me, epoch, created_ms, unix_millis(), config_.session_ttl_ms));
    stats_.commands++;
    if (!c) return c.status();
    if (reply_integer(c->get()) != 1) return Status::error("the entry was written by another worker during the move");
  } else if (epoch == 0) {
    return Status::error("the entry no longer names " + make_route(from.host, from.worker) + " at epoch " +
                         std::to_string(from_epoch));
  }
  std::lock_guard<std::mutex> lock(epochs_mu_);
  epochs_[sid] = epoch;
  return Status::ok();
}

Result<std::optional<registry::Owner>> Registry::reclaim(const SessionId& sid, int64_t created_ms) {
  auto r = try_reclaim(sid, created_ms);
  std::lock_guard<std::mutex> lock(epochs_mu_);
  if (r) {
    unsettled_.erase(sid);
  } else {
    unsettled_[sid] = created_ms;
  }
  unsettled_count_.store(unsettled_.size(), std::memory_order_relaxed);
  return r;
}

bool Registry::unsettled(const SessionId& sid) {
  if (unsettled_count_.load(std::memory_order_relaxed) == 0) return false;
  std::lock_guard<std::mutex> lock(epochs_mu_);
  return unsettled_.count(sid) != 0;
}

Result<std::optional<registry::Owner>> Registry::settle(const SessionId& sid) {
  int64_t created_ms = unix_millis();
  {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    auto it = unsettled_.find(sid);
    if (it == unsettled_.end()) return std::optional<registry::Owner>();  // settled meanwhile: ours
    created_ms = it->second;
  }
  return reclaim(sid, created_ms);
}

Result<std::optional<registry::Owner>> Registry::try_reclaim(const SessionId& sid, int64_t created_ms) {
  using R = Result<std::optional<registry::Owner>>;
  auto lease = pool_.acquire();  // a connection of its own, for this call
  Redis& conn = *lease;
  const std::string& p = config_.redis.prefix;
  fence_create(sid);  // a move from here: the first write must land before it, or be the script
  int64_t from = epoch_of(sid);
  auto r = conn.command(
      registry::transfer_argv(p, sid, config_.me, from, config_.me, unix_millis(), config_.session_ttl_ms));
  stats_.commands++;
  if (!r) return r.status();
  int64_t epoch = reply_integer(r->get());
  if (epoch < 0) {  // no entry: ours again, unless the receiver creates it first
    epoch = from + 1;
    auto c = conn.command(
        registry::upsert_argv(p, sid, config_.me, epoch, created_ms, unix_millis(), config_.session_ttl_ms));
    stats_.commands++;
    if (!c) return c.status();
    if (reply_integer(c->get()) != 1) epoch = 0;
  }
  if (epoch > 0) {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    epochs_[sid] = epoch;
    return std::optional<registry::Owner>();
  }
  auto entry = registry::read_session(conn, sid);
  stats_.commands++;
  if (!entry) return entry.status();
  if (!entry->has_value()) return R::error("the entry vanished during the reclaim");
  const registry::Owner& o = (*entry)->owner;
  if (o.host == config_.me.host && o.worker == config_.me.worker) return R::error("the entry names this worker at another epoch");
  return std::optional<registry::Owner>(o);
}

void Registry::forget(const SessionId& sid) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ops_.find(sid);
    if (it != ops_.end()) {
      if (it->second.fresh) fresh_--;
      ops_.erase(it);
    }
    stats_.pending = static_cast<int64_t>(ops_.size());
  }
  std::lock_guard<std::mutex> lock(epochs_mu_);
  epochs_.erase(sid);
  unsettled_.erase(sid);
  unsettled_count_.store(unsettled_.size(), std::memory_order_relaxed);
}

Result<std::optional<registry::SessionEntry>> Registry::lookup(const SessionId& sid) {
  auto conn = pool_.acquire();
  auto r = registry::read_session(*conn, sid);
  stats_.commands++;
  if (!r) stats_.errors++;
  if (r && r->has_value()) {
    // This worker asks only for sessions it does not hold: an entry naming
    // it (by name or by address) is stale or forged, never a place to go.
    const registry::Owner& o = (*r)->owner;
    bool me = o.host == config_.me.host && o.worker == config_.me.worker;
    if (!me && o.addr == config_.me.addr) {
      firewall::refused(registry::kSelfEntry, "session " + sid.hex().substr(0, 12) + " names " +
                                                  registry::worker_name(o.host, o.worker) + " at this worker's address");
    }
    if (me || o.addr == config_.me.addr) r = std::optional<registry::SessionEntry>();
  }
  return r;
}

}  // namespace tether
