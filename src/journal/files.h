// Journal files on disk and the shipper's checkpoint.
//
// A worker's journal directory holds its files, named by a per-directory
// sequence number (one more than any file or checkpoint in the directory),
// then the period they start and the journal instance (source) that wrote
// them:
//   s0000000000000042-20261122T210000-1763845200123456.jnl
// Writing order, shipping order and the checkpoint follow the sequence, never
// the wall clock: a worker restarted with its clock behind its last run still
// writes a file that sorts after the checkpoint. Names compare as strings:
// the sequence is zero-padded, and files of older versions (named
// "20261122T210000-1763845200123456.jnl", by the wall clock) start with a
// digit, so they all sort before every sequenced file and are still read,
// shipped and deleted in their old order (the upgrade path).
// And `checkpoint`: {"file": name, "offset": bytes} - everything before
// that point has been acknowledged by Redis. It is replaced atomically
// (write a temporary file, fsync, rename, fsync the directory).
// Thread safety: plain functions; the checkpoint belongs to the shipper.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace tether::journal {

std::string file_name(uint64_t file_seq, int64_t period_start_s, int64_t source_us);
// The period start (unix seconds) a file name carries (either form); error
// if it is not a journal file name.
Result<int64_t> file_period(const std::string& name);
// The sequence number a file name carries: 0 for a name of the old form.
uint64_t file_seq(const std::string& name);
// The sequence number for the next file in dir: one more than that of every
// journal file there and of the checkpoint's file (files wholly shipped may
// be deleted; the checkpoint's stays, and so does its number).
uint64_t next_file_seq(const std::string& dir);
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
