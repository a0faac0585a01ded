// Decoders for bus:log replies and entries (see messages.h).
#include "cache/messages.h"

#include <charconv>
#include <set>

#include "cache/docroot.h"
#include "common/json.h"
#include "redis/reply.h"

namespace tether {
namespace {

bool decimal_u64(std::string_view s) {
  if (s.empty() || s[0] < '0' || s[0] > '9') return false;
  unsigned long long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && end == s.data() + s.size();
}

bool valid_type_name(const std::string& t) {
  if (t.empty() || t.size() > 64) return false;
  for (char c : t) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
  }
  return true;
}

Result<std::vector<std::string>> split_groups(const std::string& joined) {
  using R = Result<std::vector<std::string>>;
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t comma = joined.find(',', start);
    std::string g = joined.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (g.empty()) return R::error("groups: an empty group name in " + quoted_start(joined));
    if (out.size() == kMaxGroupsPerInvalidation) {
      return R::error("groups: more than " + std::to_string(kMaxGroupsPerInvalidation));
    }
    out.push_back(std::move(g));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

bool valid_stream_id(const std::string& id) {
  size_t dash = id.find('-');
  if (dash == std::string::npos) return false;
  std::string_view v(id);
  return decimal_u64(v.substr(0, dash)) && decimal_u64(v.substr(dash + 1));
}

Result<std::vector<StreamEntry>> decode_stream_entries(const redisReply* reply) {
  using R = Result<std::vector<StreamEntry>>;
  ReplyView r(reply);
  if (!r.is_array()) return R::error("stream entries: expected an array");
  std::vector<StreamEntry> out;
  out.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    ReplyView e = r[i];
    auto id = e[0].text();
    if (!e.array(2) || !id || !valid_stream_id(*id)) {
      return R::error("stream entries: entry " + std::to_string(i) + " is not [id, fields]");
    }
    StreamEntry entry;
    entry.id = *id;
    ReplyView kv = e[1];
    if (!kv.pairs()) {
      entry.error = "entry " + entry.id + ": fields are not name/value pairs";
    } else {
      for (size_t j = 0; j < kv.size(); j += 2) {
        auto name = kv[j].text(), value = kv[j + 1].text();
        if (!name || !value) {
          entry.error = "entry " + entry.id + ": a field is not a string";
          entry.fields.clear();
          break;
        }
        entry.fields.emplace_back(std::move(*name), std::move(*value));
      }
    }
    out.push_back(std::move(entry));
  }
  return out;
}

Result<std::vector<StreamEntry>> decode_xread_reply(const redisReply* reply) {
  using R = Result<std::vector<StreamEntry>>;
  ReplyView r(reply);
  if (r.is_nil()) return std::vector<StreamEntry>{};
  if (!r.is_array()) return R::error("XREAD: expected an array or nil");
  if (r.size() == 0) return std::vector<StreamEntry>{};
  if (!r.array(1) || !r[0].array(2)) return R::error("XREAD: expected [[stream, entries]]");
  return decode_stream_entries(r[0][1].raw());
}

Result<BusLogEntry> decode_bus_log_entry(const StreamFields& fields) {
  using R = Result<BusLogEntry>;
  if (fields.size() > kMaxEntryFields) return R::error("more than " + std::to_string(kMaxEntryFields) + " fields");
  std::set<std::string> seen;
  const std::string *type = nullptr, *regex = nullptr, *groups = nullptr, *origin = nullptr, *path = nullptr;
  for (const auto& [name, value] : fields) {
    if (!seen.insert(name).second) return R::error("field " + quoted_start(name) + " given twice");
    if (name == "type")
      type = &value;
    else if (name == "regex")
      regex = &value;
    else if (name == "groups")
      groups = &value;
    else if (name == "origin")
      origin = &value;
    else if (name == "path")
      path = &value;
  }
  if (type == nullptr) return R::error("no type field");
  if (!valid_type_name(*type)) return R::error("type: expected a name of [a-z0-9_.-], got " + quoted_start(*type));
  BusLogEntry out;
  out.type = *type;
  if (origin != nullptr) {
    if (origin->empty() || origin->size() > kMaxOriginBytes || !valid_utf8(*origin)) {
      return R::error("origin: expected 1 to " + std::to_string(kMaxOriginBytes) + " bytes of UTF-8, got " +
                      quoted_start(*origin));
    }
    out.origin = *origin;
  }
  if (out.type == "invalidate") {
    cache::Invalidation what;
    if (regex != nullptr) {
      if (regex->empty()) return R::error("regex: empty");
      what.regex = *regex;
    }
    if (groups != nullptr) {
      auto g = split_groups(*groups);
      if (!g) return R::error(g.message());
      what.groups = std::move(g.value());
    }
    auto checked = check_invalidation(what);
    if (!checked) return R::error(checked.message());
    out.kind = BusLogEntry::Kind::Invalidate;
    out.invalidation = std::move(checked.value());
  } else if (out.type == "docroot") {
    if (path == nullptr) return R::error("docroot: no path field");
    if (Status s = check_docroot_path(*path); !s) return R::error(s.message());
    out.kind = BusLogEntry::Kind::Docroot;
    out.path = *path;
  }
  return out;
}

}  // namespace tether
