// Recovery after a worker died (issue 18): the checkpoint record a session's
// owner writes to Redis, read back and checked, and what a recovery found.
//
// The record (registry/checkpoint_record.h) is written by the checkpoint
// writer under a fence on the session entry. Anyone who can write to Redis
// can put anything there: decode_record refuses what is malformed, and a
// record is used only if its owner and epoch equal the session entry's
// (check_against). Registry::recover does the rest.
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
#include "registry/checkpoint_record.h"
#include "registry/entries.h"
#include "token/session_id.h"

namespace tether::registry {

// The record was written by the owner the entry names, at its epoch.
Status check_against(const CheckpointInfo& record, const SessionEntry& entry);
// The record of sid as Redis gave it (text: nullptr when there is none),
// if it decodes, matches entry and names an app known_app knows; else
// nullopt, and a record that was there is refused (counted kBadRecord),
// but for a stale one (stale_record_count).
std::optional<CheckpointInfo> usable_checkpoint(const SessionId& sid, const std::string* text,
                                                  const SessionEntry& entry,
                                                  const std::function<bool(const std::string&)>& known_app);

// Records that decoded but were written at an older epoch than the entry's:
// a normal leftover, not hostile input (the session moved or was recovered
// since, and its new owner died before its own first checkpoint). Not
// used, and counted here rather than as kBadRecord. Process-wide, any thread.
uint64_t stale_record_count();

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
