// Recovery after a worker died (issue 18): the checkpoint record a session's
// owner writes to Redis, read back and checked, and what a recovery found.
//
// The record: {prefix}state:{sid hex} = {"v":1,"app","host","worker","epoch",
// "at","created","state"} (docs: /work/issue18-design.md, written by the
// checkpoint writer under a fence on the session entry). Anyone who can
// write to Redis can put anything there: decode_checkpoint refuses what is
// malformed, and a record is used only if its owner and epoch equal the
// session entry's (check_against). Registry::recover does the rest.
//
// Thread safety: pure functions and values.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "registry/entries.h"
#include "token/session_id.h"

namespace tether::registry {

// The refusal kind of a record that cannot be used (firewall::refused).
constexpr const char* kBadCheckpoint = "checkpoint.bad_record";

// {prefix}state:{sid hex}
std::string checkpoint_key(const std::string& prefix, const SessionId& sid);

struct CheckpointRecord {
  std::string app;
  std::string host;
  int worker = 0;
  int64_t epoch = 0;
  int64_t at_ms = 0;       // when it was snapshotted (unix ms)
  int64_t created_ms = 0;  // when the session started (unix ms)
  nlohmann::json state;    // the app's snapshot()
};

// The record's text decoded: v 1, app/host non-empty strings, worker 0 to
// 65535, epoch >= 1, at and created >= 0, state present; else the reason.
Result<CheckpointRecord> decode_checkpoint(std::string_view text);
// The record was written by the owner the entry names, at its epoch.
Status check_against(const CheckpointRecord& record, const SessionEntry& entry);
// The record of sid as Redis gave it (text: nullptr when there is none),
// if it decodes, matches entry and names an app known_app knows; else
// nullopt, and a record that was there is refused (counted kBadCheckpoint).
std::optional<CheckpointRecord> usable_checkpoint(const SessionId& sid, const std::string* text,
                                                  const SessionEntry& entry,
                                                  const std::function<bool(const std::string&)>& known_app);

// What Registry::recover found for a session whose owner is gone.
struct Recovery {
  enum class Kind {
    None,   // no entry, no usable checkpoint, or the entry went meanwhile: a new session (lost)
    Won,    // this worker took the entry over: restore `envelope` under the same id
    Taken,  // another worker owns it now (it won the race, or it moved): `owner`
    Ours,   // the entry names this worker already (a recovery here that went first)
  };
  Kind kind = Kind::None;
  std::string app;          // Won: the session app to make it with
  nlohmann::json envelope;  // Won: {sid, created, state}, as SessionHost::adopt reads it
  int64_t epoch = 0;        // Won: the epoch this worker holds it at now
  int64_t at_ms = 0;        // Won: when the restored state was snapshotted
  Owner owner;              // Taken: the worker that owns it now
};

}  // namespace tether::registry
