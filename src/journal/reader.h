// JournalReader: reads a journal directory in writing order, from a
// position on, in batches of whole lines. A line that does not decode
// (checksum, truncated by a crash, bad JSON) is skipped, counted and logged;
// everything after it is still read. A torn last line of a file is only
// judged once a newer file exists (until then the writer may be mid-line).
// A batch never spans two files, so all its entries come from one source.
// Thread safety: none; owned by the shipper thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "journal/files.h"
#include "tether/journal.h"

namespace tether::journal {

struct Batch {
  std::vector<Entry> entries;
  Checkpoint end;              // the position after the last line read
  uint64_t lines = 0;          // whole lines consumed (entries and skipped ones)
  uint64_t corrupt = 0;        // lines skipped
};

class JournalReader {
 public:
  JournalReader(std::string dir, Checkpoint from) : dir_(std::move(dir)), pos_(std::move(from)) {}

  // The next batch of at most max entries from the current position; an
  // empty batch whose end differs from position() skipped lines or moved on
  // to the next file. Does not move the position: call advance(batch.end).
  // limit (the writer's committed(), taken before the call): nothing at or
  // after limit->offset in limit->file is read, nor any newer file.
  Batch read(size_t max, const Checkpoint* limit = nullptr);
  void advance(const Checkpoint& to) { pos_ = to; }
  const Checkpoint& position() const { return pos_; }
  // Whole lines from the position to the end of every file (for "pending").
  uint64_t count_lines();

 private:
  std::string dir_;
  Checkpoint pos_;
};

}  // namespace tether::journal
