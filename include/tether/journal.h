// tether::journal: tell a back end that something changed, without slowing
// the request and without losing the message.
//
//   auto r = tether::journal::append("notes", {{"uri", "/notes/42"}, {"priority", 50}, {"by", "ann"}});
//   if (!r) log or answer 503: r.error says why (journal disabled, disk full, fsync failed)
//
// append() writes the entry to this worker's journal file on local disk
// before it returns (how durable: the "fsync" policy of the "journal"
// section, see src/journal/journal.h); a shipper thread then stores it in
// Redis, in the list `tether:list:{domain}` ordered by priority then
// key_start_date, where a consumer takes it (tetherctl journal consume).
//
// Thread safety: append() may be called from any thread (session threads,
// controllers) while the worker serves. Without a "journal" section in
// tether.json every append fails with a clear error.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace tether::journal {

// One journal entry, as it is written, shipped and consumed.
struct Entry {
  std::string src;         // the journal that wrote it: "{host}-{worker}.{start time, µs}"
  uint64_t seq = 0;        // 1, 2, 3... within src, in append order
  int64_t time_us = 0;     // when it was appended, µs since the Unix epoch (strictly increasing within src)
  std::string domain;      // the list it goes to: 1-64 of [A-Za-z0-9_.-]
  std::string uri;         // what changed (may be empty)
  int priority = 50;       // 0 (first) .. 255 (last)
  int64_t key_start_date = 0;  // µs; the list's order within one priority (default: time_us)
  nlohmann::json fields = nlohmann::json::object();  // everything else the app gave

  std::string id() const { return src + "." + std::to_string(seq); }  // unique, stable across retries
};

struct [[nodiscard]] Appended {
  bool ok = false;
  std::string id;     // the entry's id when ok
  std::string error;  // why not, otherwise
  explicit operator bool() const { return ok; }
};

// Appends one entry to domain. fields must be a JSON object ({} for none); these keys are
// taken out of it and checked: "uri" (string), "priority" (integer 0..255,
// default 50), "key_start_date" (integer, µs since the epoch; default now).
// Bad input, a disabled journal, a failed write or (under "always"/"batch")
// a failed fsync give ok == false and nothing is written.
Appended append(std::string_view domain, const nlohmann::json& fields);

// True when this worker has a journal (a "journal" section in tether.json).
bool enabled();

}  // namespace tether::journal
