// The checkpoint record: key, value, decoder and fenced scripts (see checkpoint_record.h).
#include "registry/checkpoint_record.h"

#include "common/json.h"

namespace tether::registry {
namespace {

// KEYS[1] the session entry, KEYS[2] the record.
const char* kWrite = R"lua(
local v = redis.call('HMGET', KEYS[1], 'host', 'worker', 'epoch')
if not v[3] then return -1 end
if v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or v[3] ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5])
return 1)lua";

const char* kDelete = R"lua(
local v = redis.call('HMGET', KEYS[1], 'host', 'worker', 'epoch')
if v[3] and (v[1] ~= ARGV[1] or v[2] ~= ARGV[2] or v[3] ~= ARGV[3]) then return 0 end
redis.call('DEL', KEYS[2])
return 1)lua";

constexpr int64_t kMaxWorker = 65535;

}  // namespace

const char* checkpoint_write_script() { return kWrite; }
const char* checkpoint_delete_script() { return kDelete; }

std::string state_key(const std::string& prefix, const SessionId& sid) { return prefix + "state:" + sid.hex(); }

std::string encode_record(const Owner& me, const CheckpointRecord& rec) {
  // rec.state is JSON text already (json_text on the session thread): spliced in, not parsed again.
  std::string head = json_text(nlohmann::json{{"v", 1},
                                              {"app", rec.app},
                                              {"host", me.host},
                                              {"worker", me.worker},
                                              {"epoch", rec.epoch},
                                              {"at", rec.at_ms},
                                              {"created", rec.created_ms}});
  head.pop_back();  // the closing brace
  head += ",\"state\":";
  head += rec.state.empty() ? "null" : rec.state;
  head += '}';
  return head;
}

Result<CheckpointInfo> decode_record(std::string_view text) {
  using R = Result<CheckpointInfo>;
  auto j = parse_json(text);
  if (!j) return R::error("not JSON: " + j.message());
  if (!j->is_object()) return R::error("not an object");
  auto v = int_field(*j, "v");
  if (!v || *v != 1) return R::error("not a version 1 record");
  CheckpointInfo c;
  auto app = string_field(*j, "app");
  auto host = string_field(*j, "host");
  auto worker = int_field(*j, "worker");
  auto epoch = int_field(*j, "epoch");
  auto at = int_field(*j, "at");
  auto created = int_field(*j, "created");
  const nlohmann::json* state = field(*j, "state");
  if (!app || app->empty()) return R::error("no app");
  if (!host || host->empty()) return R::error("no host");
  if (!worker || *worker < 0 || *worker > kMaxWorker) return R::error("no worker in 0..65535");
  if (!epoch || *epoch < 1) return R::error("no epoch >= 1");
  if (!at || *at < 0) return R::error("no time 'at'");
  if (!created || *created < 0) return R::error("no time 'created'");
  if (state == nullptr) return R::error("no state");
  c.app = std::move(*app);
  c.host = std::move(*host);
  c.worker = static_cast<int>(*worker);
  c.epoch = *epoch;
  c.at_ms = *at;
  c.created_ms = *created;
  c.state = *state;
  return c;
}

std::vector<std::string> checkpoint_write_argv(const std::string& prefix, const SessionId& sid, const Owner& me,
                                               int64_t epoch, const std::string& value, int64_t ttl_ms) {
  return {"EVAL",
          kWrite,
          "2",
          session_key(prefix, sid),
          state_key(prefix, sid),
          me.host,
          std::to_string(me.worker),
          std::to_string(epoch),
          value,
          std::to_string(ttl_ms)};
}

std::vector<std::string> checkpoint_delete_argv(const std::string& prefix, const SessionId& sid, const Owner& me,
                                                int64_t epoch) {
  return {"EVAL",  kDelete, "2", session_key(prefix, sid), state_key(prefix, sid), me.host, std::to_string(me.worker),
          std::to_string(epoch)};
}

}  // namespace tether::registry
