// Reading journal files in batches (see reader.h).
#include "journal/reader.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

#include "common/log.h"
#include "common/unique_fd.h"
#include "journal/line.h"

namespace tether::journal {
namespace {

constexpr size_t kChunk = 256 * 1024;
std::atomic<int64_t> corrupt_log{0};

// Reads file from offset to its end (at most limit bytes).
std::string read_from(const std::string& path, uint64_t offset, size_t limit) {
  std::string out;
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return out;
  char buf[kChunk];
  while (out.size() < limit) {
    ssize_t n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(offset + out.size()));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

void log_corrupt(const std::string& file, uint64_t offset, const std::string& why) {
  if (log::every(corrupt_log, 1000)) {
    log::warn("journal_line_skipped", {{"file", file}, {"offset", offset}, {"error", why},
                                       {"effect", "counted in journal.corrupt; the lines after it still ship"}});
  }
}

}  // namespace

Batch JournalReader::read(size_t max, const Checkpoint* limit) {
  Batch b;
  b.end = pos_;
  auto files = list_files(dir_);
  if (!files || files->empty()) return b;
  // Where to start: the checkpoint's file, or the first one after it.
  auto it = std::lower_bound(files->begin(), files->end(), pos_.file);
  if (it == files->end()) return b;
  const bool limited = limit != nullptr && !limit->file.empty();
  if (limited && limit->file < *it) return b;  // a file newer than the limit: not yet
  if (*it != pos_.file) b.end = Checkpoint{*it, 0};
  const bool at_limit = limited && *it == limit->file;
  bool newer = it + 1 != files->end() && !at_limit;  // the writer's file is never judged complete
  std::string path = dir_ + "/" + b.end.file;
  std::string data = read_from(path, b.end.offset, std::max<size_t>(kChunk, max * 512));
  if (data.find('\n') == std::string::npos && data.size() >= kChunk) {
    data = read_from(path, b.end.offset, kMaxLineBytes + kChunk);  // one long entry
  }
  if (at_limit) data.resize(limit->offset > b.end.offset ? std::min<size_t>(data.size(), limit->offset - b.end.offset) : 0);
  size_t at = 0;
  while (b.entries.size() < max) {
    size_t nl = data.find('\n', at);
    if (nl == std::string::npos) break;
    std::string_view line(data.data() + at, nl - at);
    auto e = decode_line(line);
    if (e) {
      b.entries.push_back(std::move(e.value()));
    } else {
      b.corrupt++;
      log_corrupt(b.end.file, b.end.offset + at, e.message());
    }
    b.lines++;
    at = nl + 1;
  }
  b.end.offset += at;
  if (b.entries.size() < max && newer) {
    // A newer file exists, so this one is complete: read it once more (it
    // may have grown before the writer moved on) and judge its torn tail.
    std::string rest = read_from(path, b.end.offset, kMaxLineBytes + kChunk);
    if (rest.empty() || (b.entries.empty() && b.lines == 0 && rest.find('\n') == std::string::npos)) {
      if (!rest.empty()) {
        b.corrupt++;
        log_corrupt(b.end.file, b.end.offset, "truncated last line (no newline)");
      }
      b.end = Checkpoint{*(it + 1), 0};
    }
  }
  return b;
}

uint64_t JournalReader::count_lines() {
  auto files = list_files(dir_);
  if (!files) return 0;
  uint64_t n = 0;
  for (const auto& f : *files) {
    if (f < pos_.file) continue;
    uint64_t at = f == pos_.file ? pos_.offset : 0;
    for (std::string data; !(data = read_from(dir_ + "/" + f, at, kChunk)).empty(); at += data.size()) {
      n += static_cast<uint64_t>(std::count(data.begin(), data.end(), '\n'));
    }
  }
  return n;
}

}  // namespace tether::journal
