// Journal file names, listing and the checkpoint (see files.h).
#include "journal/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/json.h"

namespace tether::journal {
namespace {
constexpr const char* kSuffix = ".jnl";
std::string sys_error(const std::string& what) { return what + ": " + strerror(errno); }
}  // namespace

std::string file_name(int64_t period_start_s, int64_t source_us) {
  time_t t = static_cast<time_t>(period_start_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  return std::string(buf) + "-" + std::to_string(source_us) + kSuffix;
}

Result<int64_t> file_period(const std::string& name) {
  struct tm tm {};
  if (name.size() < 20 || name.compare(name.size() - 4, 4, kSuffix) != 0 || name[15] != '-') {
    return Result<int64_t>::error("not a journal file name: " + name);
  }
  const char* end = strptime(name.c_str(), "%Y%m%dT%H%M%S", &tm);
  if (end != name.c_str() + 15) return Result<int64_t>::error("not a journal file name: " + name);
  return static_cast<int64_t>(timegm(&tm));
}

Result<std::vector<std::string>> list_files(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return Result<std::vector<std::string>>::error(sys_error("opendir " + dir));
  std::vector<std::string> out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (file_period(n)) out.push_back(n);
  }
  closedir(d);
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
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::error(sys_error("open " + tmp));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fdatasync(fd) == 0;
  std::string why = ok ? "" : sys_error("write " + tmp);
  ::close(fd);
  if (!ok) return Status::error(why);
  if (::rename(tmp.c_str(), (dir + "/checkpoint").c_str()) != 0) return Status::error(sys_error("rename " + tmp));
  return fsync_dir(dir);
}

Status fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::error(sys_error("open " + dir));
  int rc = ::fsync(fd);
  std::string why = rc == 0 ? "" : sys_error("fsync " + dir);
  ::close(fd);
  return rc == 0 ? Status::ok() : Status::error(why);
}

Status make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::error("cannot create " + dir + ": " + ec.message());
  return Status::ok();
}

}  // namespace tether::journal
