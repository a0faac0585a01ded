// CheckpointWriter's read side, for hibernation (see checkpoints.h): whether
// a hibernating session's record may be handed over now (accepting), and the
// newest record of a session (load): the one pending or being written, else
// the one in Redis, which is hostile input: decoded with decode_record,
// checked against this worker, the epoch and the app, refused and counted
// (checkpoint.bad_record) otherwise.
// Any thread: load() blocks the caller (a session thread waking its own
// session) on a connection of its own from readers_.
#include "common/firewall.h"
#include "common/json.h"
#include "redis/reply.h"
#include "registry/checkpoint_record.h"
#include "registry/checkpoints.h"

namespace tether {

// The bound drops the oldest plain checkpoints to stay under it, so the
// backlog never stays over it: hibernation waits from half of it on, which
// leaves the other half to the checkpoints of live sessions.
bool CheckpointWriter::accepting() const {
  return !down_.load() && stats_.pending_bytes.load() <= config_.max_pending_bytes / 2;
}

namespace {

LoadedCheckpoint from_record(const CheckpointRecord& r) {
  LoadedCheckpoint out;
  auto state = parse_json(r.state.empty() ? std::string_view("null") : std::string_view(r.state));
  if (!state) {  // our own text: never, but not trusted blindly either
    out.kind = LoadedCheckpoint::Kind::Refused;
    out.why = "the pending record is not JSON: " + state.message();
    return out;
  }
  out.kind = LoadedCheckpoint::Kind::Found;
  out.state = std::move(*state);
  out.at_ms = r.at_ms;
  return out;
}

}  // namespace

LoadedCheckpoint CheckpointWriter::load(const SessionId& sid, int64_t epoch, const std::string& app) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto p = pending_.find(sid);
    if (p != pending_.end()) {
      if (p->second.op.del) {
        LoadedCheckpoint gone;
        gone.why = "the record is being deleted";
        return gone;
      }
      if (p->second.op.epoch == epoch) return from_record(p->second.op.record);
    }
    auto f = inflight_.find(sid);
    if (f != inflight_.end() && f->second.epoch == epoch) return from_record(f->second);
  }
  return read_back(sid, epoch, app);
}

LoadedCheckpoint CheckpointWriter::read_back(const SessionId& sid, int64_t epoch, const std::string& app) {
  LoadedCheckpoint out;
  auto lease = readers_.acquire();
  auto r = lease->command({"GET", registry::state_key(config_.redis.prefix, sid)});
  stats_.commands++;
  std::string text;
  bool wrong_type = !r && r.message().rfind("WRONGTYPE", 0) == 0;
  if (!r && !wrong_type) {
    stats_.errors++;
    out.kind = LoadedCheckpoint::Kind::Unavailable;
    out.why = r.message();
    return out;
  }
  if (r) {
    ReplyView v(r->get());
    if (v.is_nil()) {
      out.why = "no record in Redis";
      return out;
    }
    auto bulk = v.bulk();  // not a bulk string: text stays empty, refused below
    if (bulk) text = std::move(*bulk);
  }
  const std::string where = "session " + sid.hex().substr(0, 12) + " waking: ";
  auto refuse = [&](const std::string& why) {
    firewall::refused(registry::kBadRecord, where + why);
    out.kind = LoadedCheckpoint::Kind::Refused;
    out.why = why;
    return out;
  };
  if (wrong_type || text.empty()) return refuse("not a string");
  auto record = registry::decode_record(text);
  if (!record) return refuse(record.message());
  const registry::Owner& me = config_.me;
  if (record->host != me.host || record->worker != me.worker || record->epoch != epoch) {
    return refuse("written by " + utf8_or_replaced(registry::worker_name(record->host, record->worker)) + " at epoch " +
                  std::to_string(record->epoch) + ", this worker holds it at epoch " + std::to_string(epoch));
  }
  if (record->app != app) return refuse("a record of app " + utf8_or_replaced(record->app) + ", not " + app);
  out.kind = LoadedCheckpoint::Kind::Found;
  out.state = std::move(record->state);
  out.at_ms = record->at_ms;
  return out;
}

}  // namespace tether
