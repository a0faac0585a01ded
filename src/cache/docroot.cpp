// Docroot sync: pushed files from Redis to this worker's docroot (see docroot.h).
#include "cache/docroot.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace tether {

Status check_docroot_path(const std::string& rel) {
  if (rel.empty() || rel.size() > 1024) return Status::error("docroot path: expected 1 to 1024 bytes");
  if (rel[0] == '/') return Status::error("docroot path: must be relative to the docroot, got \"" + rel + "\"");
  if (rel.find('\0') != std::string::npos) return Status::error("docroot path: contains a NUL byte");
  std::stringstream ss(rel);
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty() || part == "." || part == "..") {
      return Status::error("docroot path: empty, '.' or '..' parts are refused, got \"" + rel + "\"");
    }
  }
  if (rel.back() == '/') return Status::error("docroot path: names a directory, got \"" + rel + "\"");
  return Status::ok();
}

Status write_docroot_file(const std::string& root, const std::string& rel, const std::string& content) {
  if (Status s = check_docroot_path(rel); !s) return s;
  namespace fs = std::filesystem;
  fs::path target = fs::path(root) / rel;
  {
    std::ifstream old(target, std::ios::binary);
    if (old) {
      std::stringstream ss;
      ss << old.rdbuf();
      if (ss.str() == content) return Status::ok();
    }
  }
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) return Status::error(target.parent_path().string() + ": " + ec.message());
  fs::path tmp = target;
  tmp += ".tether-tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out.flush()) return Status::error(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::error(target.string() + ": cannot replace: " + ec.message());
  }
  return Status::ok();
}

Status fetch_docroot_file(Redis& redis, const std::string& root, const std::string& rel) {
  auto r = redis.command({"GET", redis.options().prefix + "cache:docroot:" + rel});
  if (!r) return Status::error("docroot " + rel + ": " + r.message());
  if (r.value()->type != REDIS_REPLY_STRING) return Status::error("docroot " + rel + ": no longer in Redis");
  return write_docroot_file(root, rel, std::string(r.value()->str, r.value()->len));
}

Result<size_t> sync_docroot(Redis& redis, const std::string& root) {
  const std::string prefix = redis.options().prefix + "cache:docroot:";
  std::string cursor = "0";
  size_t n = 0;
  do {
    auto r = redis.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "200"});
    if (!r) return Result<size_t>::error(r.message());
    const redisReply* a = r.value().get();
    if (a->type != REDIS_REPLY_ARRAY || a->elements != 2) return Result<size_t>::error("SCAN: unexpected reply");
    cursor = reply_string(a->element[0]);
    for (size_t i = 0; i < a->element[1]->elements; ++i) {
      std::string rel = reply_string(a->element[1]->element[i]).substr(prefix.size());
      if (Status s = fetch_docroot_file(redis, root, rel); !s) return Result<size_t>::error(s.message());
      n++;
    }
  } while (cursor != "0");
  return n;
}

}  // namespace tether
