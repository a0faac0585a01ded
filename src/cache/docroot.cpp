// Docroot sync: pushed files from Redis to this worker's docroot (see docroot.h).
#include "cache/docroot.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "cache/invalidation.h"
#include "common/firewall.h"
#include "common/json.h"
#include "redis/reply.h"

namespace tether {

Status check_docroot_path(const std::string& rel) {
  if (rel.empty() || rel.size() > kMaxDocrootPathBytes) {
    return Status::error("docroot path: expected 1 to " + std::to_string(kMaxDocrootPathBytes) + " bytes, got " +
                         std::to_string(rel.size()));
  }
  if (!valid_utf8(rel)) return Status::error("docroot path: not UTF-8: " + quoted_start(rel));
  for (unsigned char c : rel) {
    if (c < 0x20 || c == 0x7f) return Status::error("docroot path: contains a control character: " + quoted_start(rel));
  }
  if (rel[0] == '/') return Status::error("docroot path: must be relative to the docroot, got " + quoted_start(rel));
  std::stringstream ss(rel);
  for (std::string part; std::getline(ss, part, '/');) {
    if (part.empty() || part == "." || part == "..") {
      return Status::error("docroot path: empty, '.' or '..' parts are refused, got " + quoted_start(rel));
    }
    if (part.size() > 255) return Status::error("docroot path: a part longer than 255 bytes");
  }
  if (rel.back() == '/') return Status::error("docroot path: names a directory, got " + quoted_start(rel));
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
  if (Status s = check_docroot_path(rel); !s) {
    firewall::refused("cache.bad_docroot", s.message());
    return s;
  }
  auto r = redis.command({"GET", redis.options().prefix + "cache:docroot:" + rel});
  if (!r) {
    std::string why = "docroot " + rel + ": " + r.message();
    if (r.message().find("WRONGTYPE") != std::string::npos) firewall::refused("cache.bad_docroot", why);
    return Status::error(why);
  }
  const redisReply* v = r.value().get();
  if (v == nullptr || v->type == REDIS_REPLY_NIL) return Status::error("docroot " + rel + ": no longer in Redis");
  if (v->type != REDIS_REPLY_STRING || v->len > kMaxDocrootFileBytes) {
    std::string why = "docroot " + rel + ": expected a string of at most " + std::to_string(kMaxDocrootFileBytes) +
                      " bytes in Redis";
    firewall::refused("cache.bad_docroot", why);
    return Status::error(why);
  }
  return write_docroot_file(root, rel, std::string(v->str, v->len));
}

Result<size_t> sync_docroot(Redis& redis, const std::string& root, size_t* skipped) {
  const std::string prefix = redis.options().prefix + "cache:docroot:";
  std::string cursor = "0";
  size_t n = 0;
  constexpr int kMaxRounds = 1000000;  // SCAN ends; this only bounds a Redis that never says 0
  for (int round = 0; round < kMaxRounds; ++round) {
    auto r = redis.command({"SCAN", cursor, "MATCH", prefix + "*", "COUNT", "200"});
    if (!r) return Result<size_t>::error(r.message());
    ReplyView a(r.value().get());
    auto next = a[0].text();
    if (!a.array(2) || !a[1].is_array() || !next) return Result<size_t>::error("SCAN: unexpected reply");
    cursor = *next;
    for (size_t i = 0; i < a[1].size(); ++i) {
      std::string key(a[1][i].text_view().value_or(""));  // not a string: not a key of ours
      if (key.size() <= prefix.size() || key.compare(0, prefix.size(), prefix) != 0) continue;
      if (Status s = fetch_docroot_file(redis, root, key.substr(prefix.size())); !s) {
        if (skipped != nullptr) (*skipped)++;
        continue;  // refused or not writable: the others still come
      }
      n++;
    }
    if (cursor == "0" || cursor.empty()) return n;
  }
  return Result<size_t>::error("SCAN: did not end");
}

}  // namespace tether
