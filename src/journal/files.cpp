// Journal file names, listing and the checkpoint (see files.h).
#include "journal/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/json.h"
#include "common/unique_fd.h"

namespace tether::journal {
namespace {
constexpr const char* kSuffix = ".jnl";
std::string sys_error(const std::string& what) { return what + ": " + strerror(errno); }


constexpr size_t kSeqDigits = 16;

std::string period_text(int64_t period_start_s) {
  time_t t = static_cast<time_t>(period_start_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  return buf;
}

// "s" + 16 digits + "-": the sequenced form's head; 0 if name has none.
uint64_t seq_head(const std::string& name) {
  if (name.size() < kSeqDigits + 2 || name[0] != 's' || name[kSeqDigits + 1] != '-') return 0;
  uint64_t n = 0;
  for (size_t i = 1; i <= kSeqDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    n = n * 10 + static_cast<uint64_t>(name[i] - '0');
  }
  return n;
}

}  // namespace

std::string file_name(uint64_t file_seq, int64_t period_start_s, int64_t source_us) {
  char seq[32];
  snprintf(seq, sizeof seq, "s%0*llu-", static_cast<int>(kSeqDigits), static_cast<unsigned long long>(file_seq));
  return seq + period_text(period_start_s) + "-" + std::to_string(source_us) + kSuffix;
}

Result<int64_t> file_period(const std::string& name) {
  auto bad = [&] { return Result<int64_t>::error("not a journal file name: " + name); };
  uint64_t seq = seq_head(name);
  if (name[0] == 's' && seq == 0) return bad();
  std::string rest = seq == 0 ? name : name.substr(kSeqDigits + 2);
  struct tm tm {};
  if (rest.size() < 20 || rest.compare(rest.size() - 4, 4, kSuffix) != 0 || rest[15] != '-') return bad();
  const char* end = strptime(rest.c_str(), "%Y%m%dT%H%M%S", &tm);
  if (end != rest.c_str() + 15) return bad();
  return static_cast<int64_t>(timegm(&tm));
}

uint64_t file_seq(const std::string& name) { return file_period(name) ? seq_head(name) : 0; }

uint64_t next_file_seq(const std::string& dir) {
  uint64_t top = 0;
  if (auto files = list_files(dir)) {
    for (const auto& f : *files) top = std::max(top, file_seq(f));
  }
  if (auto cp = load_checkpoint(dir)) top = std::max(top, file_seq(cp->file));
  return top + 1;
}

Result<std::vector<std::string>> list_files(const std::string& dir) {
  struct CloseDir {
    void operator()(DIR* d) const { closedir(d); }
  };
  std::unique_ptr<DIR, CloseDir> d(opendir(dir.c_str()));
  if (!d) return Result<std::vector<std::string>>::error(sys_error("opendir " + dir));
  std::vector<std::string> out;
  while (dirent* e = readdir(d.get())) {
    std::string n = e->d_name;
    if (file_period(n)) out.push_back(n);
  }
  d.reset();
  std::sort(out.begin(), out.end());
  return out;
}

Result<Checkpoint> load_checkpoint(const std::string& dir) {
  std::ifstream f(dir + "/checkpoint");
  if (!f) return Checkpoint{};
  std::stringstream ss;
  ss << f.rdbuf();
  auto j = parse_json(ss.str());  // depth-bounded, never throws
  const nlohmann::json* offset = j ? field(*j, "offset") : nullptr;
  auto file = j ? string_field(*j, "file") : std::nullopt;
  if (!file || offset == nullptr || !offset->is_number_unsigned()) {
    return Result<Checkpoint>::error(dir + "/checkpoint: damaged (expected {\"file\": name, \"offset\": n}): " +
                                     utf8_or_replaced(ss.str().substr(0, 200)));
  }
  return Checkpoint{*file, offset->get<uint64_t>()};
}

Status save_checkpoint(const std::string& dir, const Checkpoint& c) {
  std::string tmp = dir + "/checkpoint.tmp";
  std::string text = nlohmann::json{{"file", c.file}, {"offset", c.offset}}.dump() + "\n";
  unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return Status::error(sys_error("open " + tmp));
  bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fdatasync(fd.get()) == 0;
  if (!ok) return Status::error(sys_error("write " + tmp));
  fd.reset();
  if (::rename(tmp.c_str(), (dir + "/checkpoint").c_str()) != 0) return Status::error(sys_error("rename " + tmp));
  return fsync_dir(dir);
}

Status fsync_dir(const std::string& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return Status::error(sys_error("open " + dir));
  if (::fsync(fd.get()) != 0) return Status::error(sys_error("fsync " + dir));
  return Status::ok();
}

Status make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error("cannot create " + dir + ": " + ec.message());
  return Status::ok();
}

}  // namespace tether::journal
