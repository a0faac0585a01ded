// Journal files on disk and the shipper's checkpoint.
//
// A worker's journal directory holds its files, named by the period they
// start and the journal instance (source) that wrote them, so that sorting
// the names sorts them in writing order:
//   20261122T210000-1763845200123456.jnl   (period start, UTC; source start, µs)
// and `checkpoint`: {"file": name, "offset": bytes} - everything before
// that point has been acknowledged by Redis. It is replaced atomically
// (write a temporary file, fsync, rename, fsync the directory).
// Thread safety: plain functions; the checkpoint belongs to the shipper.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace tether::journal {

std::string file_name(int64_t period_start_s, int64_t source_us);
// The period start (unix seconds) a file name carries; error if it is not a journal file name.
Result<int64_t> file_period(const std::string& name);
// Journal file names in dir, sorted (oldest first).
Result<std::vector<std::string>> list_files(const std::string& dir);

struct Checkpoint {
  std::string file;    // empty: nothing acknowledged yet
  uint64_t offset = 0;
};
// A missing checkpoint is an empty one; a damaged one is an error.
Result<Checkpoint> load_checkpoint(const std::string& dir);
Status save_checkpoint(const std::string& dir, const Checkpoint& c);

Status fsync_dir(const std::string& dir);
Status make_dirs(const std::string& dir);

}  // namespace tether::journal
