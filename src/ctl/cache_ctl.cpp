// tetherctl's cache commands: invalidate and push-file (see ctl.h). Both
// write one entry to the {prefix}bus:log stream that every worker follows.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cache/docroot.h"
#include "cache/invalidation.h"
#include "common/json.h"
#include "ctl/ctl.h"

namespace tether::ctl {
namespace {

Result<std::string> xadd(Redis& redis, const Options& opt, const std::vector<std::string>& fields) {
  auto r = redis.command(bus_log_xadd(redis.options().prefix, opt.stream_maxlen, fields));
  if (!r) return Result<std::string>::error(r.message());
  return reply_string(r.value().get());
}

}  // namespace

int invalidate(Redis& redis, const Options& opt) {
  cache::Invalidation what{opt.regex, opt.groups};
  if (auto checked = check_invalidation(what); !checked) {
    fprintf(stderr, "tetherctl: invalidate: %s (nothing was invalidated)\n", checked.message().c_str());
    return 2;
  }
  auto id = xadd(redis, opt, invalidation_fields(what, "tetherctl"));
  if (!id) {
    fprintf(stderr, "tetherctl: invalidate: %s\n", id.message().c_str());
    return 1;
  }
  if (opt.json) {
    printf("%s\n", json_text(nlohmann::json({{"id", id.value()}, {"regex", opt.regex}, {"groups", opt.groups}})).c_str());
  } else {
    printf("invalidation %s sent to every worker (regex: %s, groups: %zu)\n", id.value().c_str(),
           opt.regex.empty() ? "-" : opt.regex.c_str(), opt.groups.size());
  }
  return 0;
}

int push_file(Redis& redis, const std::string& path, const Options& opt) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    fprintf(stderr, "tetherctl: push-file: %s: cannot read\n", path.c_str());
    return 1;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > kMaxDocrootFileBytes) {
    fprintf(stderr, "tetherctl: push-file: %s: %zu bytes, workers take at most %zu\n", path.c_str(), ss.str().size(),
            kMaxDocrootFileBytes);
    return 2;
  }
  std::string rel = opt.as.empty() ? std::filesystem::path(path).filename().string() : opt.as;
  if (Status s = check_docroot_path(rel); !s) {
    fprintf(stderr, "tetherctl: push-file: %s\n", s.message().c_str());
    return 2;
  }
  auto set = redis.command({"SET", redis.options().prefix + "cache:docroot:" + rel, ss.str()});
  auto id = set ? xadd(redis, opt, {"type", "docroot", "path", rel}) : Result<std::string>(set.status());
  if (!id) {
    fprintf(stderr, "tetherctl: push-file: %s\n", id.message().c_str());
    return 1;
  }
  if (opt.json) {
    printf("%s\n", json_text(nlohmann::json({{"id", id.value()}, {"path", rel}, {"bytes", ss.str().size()}})).c_str());
  } else {
    printf("pushed %s (%zu bytes) to every worker's docroot (%s)\n", rel.c_str(), ss.str().size(), id.value().c_str());
  }
  return 0;
}

}  // namespace tether::ctl
