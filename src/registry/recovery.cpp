// Recovery after a worker died: the checkpoint record's decoder and
// Registry::recover (see recovery.h, registry.h).
// Any thread: recover() leases a connection of its own from the pool; the
// epoch map is under epochs_mu_.
#include "registry/recovery.h"

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "common/route.h"
#include "redis/reply.h"
#include "registry/decode.h"
#include "registry/registry.h"

namespace tether {
namespace registry {

Status check_against(const CheckpointInfo& record, const SessionEntry& entry) {
  if (record.host != entry.owner.host || record.worker != entry.owner.worker || record.epoch != entry.epoch) {
    return Status::error("written by " + utf8_or_replaced(worker_name(record.host, record.worker)) + " at epoch " +
                         std::to_string(record.epoch) + ", the entry names " +
                         worker_name(entry.owner.host, entry.owner.worker) + " at epoch " +
                         std::to_string(entry.epoch));
  }
  return Status::ok();
}

std::optional<CheckpointInfo> usable_checkpoint(const SessionId& sid, const std::string* text,
                                                  const SessionEntry& entry,
                                                  const std::function<bool(const std::string&)>& known_app) {
  if (text == nullptr) return std::nullopt;
  std::string where = "session " + sid.hex().substr(0, 12) + ": ";
  auto record = decode_record(*text);
  if (!record) {
    firewall::refused(kBadRecord, where + record.message());
    return std::nullopt;
  }
  if (Status s = check_against(*record, entry); !s) {
    firewall::refused(kBadRecord, where + s.message());
    return std::nullopt;
  }
  if (!known_app || !known_app(record->app)) {
    firewall::refused(kBadRecord, where + "no session app named " + utf8_or_replaced(record->app));
    return std::nullopt;
  }
  return std::move(record.value());
}

}  // namespace registry

namespace {

// The record of sid: nullopt when there is none or it cannot be used
// against entry (counted); error when Redis fails.
Result<std::optional<registry::CheckpointInfo>> read_checkpoint(Redis& conn, const SessionId& sid,
                                                                  const registry::SessionEntry& entry,
                                                                  const std::function<bool(const std::string&)>& known_app) {
  auto r = conn.command({"GET", registry::state_key(conn.options().prefix, sid)});
  std::string bad;  // not a string: refused like a record that does not decode
  if (!r && r.message().rfind("WRONGTYPE", 0) == 0) return registry::usable_checkpoint(sid, &bad, entry, known_app);
  if (!r) return r.status();
  ReplyView v(r->get());
  if (v.is_nil()) return registry::usable_checkpoint(sid, nullptr, entry, known_app);
  auto text = v.bulk();
  return registry::usable_checkpoint(sid, text ? &*text : &bad, entry, known_app);
}

}  // namespace

Result<registry::Recovery> Registry::recover(const SessionId& sid, const registry::Owner& gone,
                                             const std::function<bool(const std::string&)>& known_app) {
  using K = registry::Recovery::Kind;
  registry::Recovery out;
  auto lease = pool_.acquire();  // a connection of its own, for this call
  Redis& conn = *lease;
  auto is_me = [&](const registry::Owner& o) { return o.host == config_.me.host && o.worker == config_.me.worker; };
  auto entry = registry::read_session(conn, sid);
  stats_.commands++;
  if (!entry) {
    stats_.errors++;
    return entry.status();
  }
  if (!entry->has_value()) return out;  // ended, expired, or never written: nothing to take over
  const registry::SessionEntry was = **entry;
  if (is_me(was.owner)) {
    // gone is this worker: its previous run held sid and died (a restart
    // under supervisord), unless this run holds it (taken over, recovered by
    // a request that went first) or ended it (its release not yet written).
    bool held_here = false;
    {
      std::lock_guard<std::mutex> lock(epochs_mu_);
      held_here = epochs_.count(sid) != 0;
    }
    if (!is_me(gone) || held_here) {
      out.kind = K::Ours;
      return out;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (releasing_.count(sid) != 0) return out;
  } else if (was.owner.addr == config_.me.addr) {  // as lookup(): never a place to go, never taken from
    firewall::refused(registry::kSelfEntry, "session " + sid.hex().substr(0, 12) + " names " +
                                                registry::worker_name(was.owner.host, was.owner.worker) +
                                                " at this worker's address");
    return out;
  }
  if (was.owner.host != gone.host || was.owner.worker != gone.worker) {  // moved, or recovered elsewhere
    out.kind = K::Taken;
    out.owner = was.owner;
    return out;
  }
  auto first = read_checkpoint(conn, sid, was, known_app);
  stats_.commands++;
  if (!first) {
    stats_.errors++;
    return first.status();
  }
  if (!first->has_value()) return out;  // no checkpoint: lost
  const std::string& p = config_.redis.prefix;
  auto r = conn.command(registry::transfer_argv(p, sid, was.owner, was.epoch, config_.me, unix_millis(),
                                                config_.session_ttl_ms));
  stats_.commands++;
  if (!r) {
    stats_.errors++;
    return r.status();
  }
  int64_t epoch = reply_integer(r->get());
  if (epoch < 0) return out;  // the entry went meanwhile (ended, expired): not brought back
  if (epoch == 0) {           // another worker moved it first: whose is it now?
    auto now = registry::read_session(conn, sid);
    stats_.commands++;
    if (!now) return now.status();
    if (!now->has_value() || (!is_me((*now)->owner) && (*now)->owner.addr == config_.me.addr)) return out;
    out.kind = is_me((*now)->owner) ? K::Ours : K::Taken;
    out.owner = (*now)->owner;
    return out;
  }
  {
    std::lock_guard<std::mutex> lock(epochs_mu_);
    epochs_[sid] = epoch;
  }
  // Ours at epoch+1: the dead owner's writes are fenced from now on, so the
  // record read again is its last one (it may have written after the first read).
  registry::CheckpointInfo record = std::move(**first);
  auto last = read_checkpoint(conn, sid, was, known_app);
  stats_.commands++;
  if (last && last->has_value() && (*last)->at_ms >= record.at_ms) record = std::move(**last);
  out.kind = K::Won;
  out.app = record.app;
  out.epoch = epoch;
  out.at_ms = record.at_ms;
  out.envelope = nlohmann::json{{"sid", sid.hex()}, {"created", record.created_ms}, {"state", std::move(record.state)}};
  return out;
}

}  // namespace tether
