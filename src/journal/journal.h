// Journal: this worker's local append-only journal (the writing side; the
// shipper in shipper.h reads it and stores the entries in Redis).
//
// append() encodes one entry as one line (line.h) and writes it with a single
// write(2) to the current file, under a mutex, before it returns. A new file
// starts every rollover_s (aligned to the wall clock: by default each hour)
// and at every start of the worker (a new source, see Entry::src), so a line
// torn by a crash is never continued by a later append. Files are numbered
// by a sequence that only goes up (files.h): the wall clock decides when a
// file starts, never where it sorts.
//
// Durability contract, by "fsync" policy (like Redis' appendfsync):
//   always  append() returns only after fdatasync(2) of the line succeeded:
//           an acknowledged entry survives a crash of the process, the kernel
//           or the machine. If fdatasync fails we cannot know what reached
//           the disk (the kernel may have dropped the dirty pages), so the
//           append fails, and so does every later one: the journal is marked
//           failed until the worker restarts ("append_failed" is logged and
//           counted). Never pretend. The failed line is never shipped (the
//           application may retry it): the shipper reads the current file
//           only up to committed(), the end of the last acknowledged line, and
//           the line is cut off the file (ftruncate), or, if that fails too,
//           its checksum is overwritten so that a reader after a restart
//           skips it as corrupt.
//   batch   append() returns once the line is in the page cache; a thread
//           runs fdatasync every fsync_interval_ms when something was
//           written (group commit). A process crash (kill -9) loses nothing;
//           a kernel crash or power loss loses at most the last interval.
//           An fsync failure fails the journal as under "always": appends
//           fail loudly from then on; the entries of the last interval may
//           be lost and the log says so.
//   none    append() returns once the line is in the page cache; the kernel
//           writes it when it likes (usually within 30 s). Survives kill -9,
//           not a kernel crash.
// Under every policy a failed or short write is undone (ftruncate back to
// the last whole line) and that append fails; the file stays well-formed.
// When an entry may be deleted: see shipper.h (only after Redis acknowledged
// it, and never from the current or the previous period's file).
//
// Thread safety: append() from any thread; the file and counters are under
// one mutex. stop() once, after the last append.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"
#include "journal/files.h"
#include "journal/options.h"
#include "journal/stats.h"
#include "tether/journal.h"

namespace tether::journal {

class Journal {
 public:
  // Creates dir, takes its lock (one writer per directory) and opens the
  // first file of a new source "{route}.{now µs}".
  static Result<std::unique_ptr<Journal>> open(const JournalOptions& opts, const std::string& route,
                                               JournalStats& stats);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // The public tether::journal::append, checked and written. Returns the id.
  Result<std::string> append(std::string_view domain, const nlohmann::json& fields);
  // Stops the fsync thread, fsyncs and closes the file (unless failed).
  void stop();

  const std::string& dir() const { return opts_.dir; }
  const std::string& source() const { return source_; }
  const JournalOptions& options() const { return opts_; }
  std::string current_file() const;
  // The end of the last acknowledged line: {current file, offset}. The
  // shipper reads the current file no further (see "always" above).
  Checkpoint committed() const;
  // For the shipper: waits until more than `seen` entries were appended, or
  // timeout_ms, or stop(). Returns the current count.
  uint64_t wait_appended(uint64_t seen, int timeout_ms);

 private:
  Journal(JournalOptions opts, std::string source, JournalStats& stats);
  Status open_file_locked(int64_t period_s);  // mu_ held
  Status write_locked(const std::string& line);
  void void_tail_locked();  // cut the unacknowledged bytes after offset_ off the file
  void fail_locked(const std::string& what);
  void sync_loop();

  const JournalOptions opts_;
  const std::string source_;
  JournalStats& stats_;
  unique_fd lock_fd_;  // flock'ed for the journal's life; released last

  mutable std::mutex mu_;
  std::condition_variable appended_cv_;
  std::condition_variable sync_cv_;
  unique_fd fd_;  // the current file (O_APPEND)
  std::string file_;
  int64_t period_s_ = -1;
  uint64_t next_file_seq_ = 1;  // the number of the next file opened
  uint64_t offset_ = 0;       // bytes of whole, acknowledged lines in file_
  uint64_t seq_ = 0;
  int64_t last_time_us_ = 0;
  bool dirty_ = false;        // written since the last fdatasync
  std::string failed_;        // non-empty: why every append fails
  bool stopping_ = false;
  std::thread syncer_;
};

}  // namespace tether::journal
