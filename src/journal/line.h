// Journal lines: how one entry is written on disk, and read back.
//
//   <crc32 of the JSON, 8 lower-case hex digits> <the entry as one JSON object>\n
//   3e1f0a9c {"src":"h1-0.1763847600123456","seq":1,"time":...,"domain":"notes",...}
//
// A crash mid-write leaves a line without its newline, or with missing
// bytes: the checksum (or the missing newline) gives it away, and the reader
// skips it. decode_line() is a pure function, safe on any input (a libFuzzer
// target calls it); it never throws and never returns a partial entry.
// Thread safety: plain functions, no shared state.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "tether/journal.h"

namespace tether::journal {

constexpr size_t kMaxLineBytes = 1 << 20;  // an entry's JSON is at most 1 MiB
constexpr int kMaxPriority = 255;

uint32_t crc32(std::string_view data);

// The entry as compact JSON (also what the list store keeps).
std::string entry_json(const Entry& e);
Result<Entry> entry_from_json(std::string_view json);

// One whole line, newline included.
std::string encode_line(const Entry& e);
// One line without its newline. The error says what is wrong (checksum,
// JSON, a field), never anything partial.
Result<Entry> decode_line(std::string_view line);

// A domain names a list: 1-64 of [A-Za-z0-9_.-].
Status check_domain(std::string_view domain);

}  // namespace tether::journal
