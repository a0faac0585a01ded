// The checkpoint record in Redis (issue 18), beside the session entry:
//   {prefix}state:{sid hex}  JSON {"v":1,"app","host","worker","epoch","at","created","state"}; PX = the entry's TTL
// Written and deleted only by Lua scripts that compare the session entry's
// (host, worker, epoch) with the writer's first, so a stale owner can never
// overwrite or delete a newer owner's record. Read back (tetherctl,
// recovery) through decode_record: the value is hostile input.
//
// Thread safety: pure functions.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "registry/entries.h"
#include "session/checkpoint.h"

namespace tether::registry {

inline constexpr const char* kBadRecord = "checkpoint.bad_record";  // firewall::refused kind

std::string state_key(const std::string& prefix, const SessionId& sid);

// The record's value for `rec` written by `me`.
std::string encode_record(const Owner& me, const CheckpointRecord& rec);

// A record read back; state is the app's snapshot.
struct CheckpointInfo {
  std::string app;
  std::string host;
  int worker = 0;
  int64_t epoch = 0;
  int64_t at_ms = 0;
  int64_t created_ms = 0;
  nlohmann::json state;
};
// Decodes a record's value: error (with the reason) for anything that is not
// a version 1 record with every field of its type. Counts nothing: the
// caller refuses (firewall::refused(kBadRecord, ...)) with its context.
Result<CheckpointInfo> decode_record(std::string_view text);

// The scripts' text, for SCRIPT LOAD; argv[0..1] may become EVALSHA, sha.
const char* checkpoint_write_script();
const char* checkpoint_delete_script();
// EVAL argv: SET the record PX ttl_ms if the entry names me at epoch.
// Reply 1 written; 0 fenced (another owner or epoch); -1 no entry (yet).
std::vector<std::string> checkpoint_write_argv(const std::string& prefix, const SessionId& sid, const Owner& me,
                                               int64_t epoch, const std::string& value, int64_t ttl_ms);
// EVAL argv: DEL the record unless the entry names another owner or epoch
// (with no entry, nobody can recover from it: deleted too). Reply 1 done, 0 fenced.
std::vector<std::string> checkpoint_delete_argv(const std::string& prefix, const SessionId& sid, const Owner& me,
                                                int64_t epoch);

}  // namespace tether::registry
