// Fuzzes the cache's decoders of what it reads from Redis
// (src/cache/messages.h: {prefix}bus:log replies and entries) and the
// checks they rely on (check_invalidation with RE2, check_docroot_path).
// The first byte of the input picks the form:
//   'e' one entry's fields as text, lines "name=value"; an accepted
//       invalidation is applied to a cache holding a few pages, among them
//       one under a 3,000-byte key (what made a catastrophic regex kill
//       every worker under std::regex);
//   'i' an invalidation as the admin page and tether::cache::invalidate
//       send it: the first line the regex, the rest comma-separated groups;
//   'p' a docroot push's path (the rest, whole);
//   any other byte: the rest builds a hiredis reply (tests/fuzz/reply.h),
//       decoded as an XREVRANGE and as an XREAD reply, each entry then
//       decoded as the follower does.
// Checks: nothing throws, a refusal says why, an accepted docroot path
// passes check_docroot_path, an accepted stream entry has a valid id.
#include <cstdlib>
#include <string>

#include "cache/docroot.h"
#include "cache/invalidation.h"
#include "cache/messages.h"
#include "cache/store.h"
#include "common/clock.h"
#include "reply.h"

namespace {

template <class T>
void check_refusal(const tether::Result<T>& r) {
  if (!r && r.message().empty()) std::abort();
}

tether::ResponseCache& cache() {
  static tether::SteadyClock clock;
  static tether::ResponseCache* c = new tether::ResponseCache(clock, 64 << 20);
  return *c;
}

// The pages an invalidation runs against; put back before each one.
void fill() {
  tether::CachePolicy persistent;
  persistent.mode = tether::CacheMode::Persistent;
  persistent.groups = {"about", "saved"};
  auto& c = cache();
  const std::string keys[] = {"GET /about", "GET /t/page?x=1", "GET /" + std::string(3000, 'a'), "GET /\xff\xfe/odd",
                              std::string("GET /nul\0byte", 13)};
  for (const auto& k : keys) {
    if (!c.get(k)) c.put(k, tether::Response::text("page\n"), persistent, c.generation());
  }
}

void apply(const tether::CheckedInvalidation& inv) {
  if (!inv.regex && inv.groups.empty()) std::abort();  // something is named
  if (inv.regex_text.size() > tether::kMaxRegexBytes) std::abort();
  fill();
  (void)tether::apply_invalidation(cache(), inv);
}

void entry(const tether::StreamFields& fields) {
  auto e = tether::decode_bus_log_entry(fields);
  check_refusal(e);
  if (!e) return;
  if (e->kind == tether::BusLogEntry::Kind::Invalidate) apply(e->invalidation);
  if (e->kind == tether::BusLogEntry::Kind::Docroot && !tether::check_docroot_path(e->path)) std::abort();
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size() && out.size() < 64) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

void from_lines(const std::string& s) {
  tether::StreamFields fields;
  for (const auto& l : lines_of(s)) {
    size_t eq = l.find('=');
    if (eq != std::string::npos) fields.emplace_back(l.substr(0, eq), l.substr(eq + 1));
  }
  entry(fields);
}

void invalidation(const std::string& s) {
  size_t nl = s.find('\n');
  tether::cache::Invalidation what;
  what.regex = s.substr(0, nl);
  if (nl != std::string::npos) {
    std::string groups = s.substr(nl + 1);
    size_t start = 0;
    while (start <= groups.size() && what.groups.size() < 100) {
      size_t comma = groups.find(',', start);
      if (comma == std::string::npos) comma = groups.size();
      what.groups.push_back(groups.substr(start, comma - start));
      start = comma + 1;
    }
  }
  auto inv = tether::check_invalidation(what);
  check_refusal(inv);
  if (inv) apply(inv.value());
}

void entries(const tether::Result<std::vector<tether::StreamEntry>>& r) {
  check_refusal(r);
  if (!r) return;
  for (const auto& e : r.value()) {
    if (!tether::valid_stream_id(e.id)) std::abort();
    if (e.error.empty()) entry(e.fields);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 'e':
      from_lines(rest);
      break;
    case 'i':
      invalidation(rest);
      break;
    case 'p': {
      tether::Status s = tether::check_docroot_path(rest);
      if (!s && s.message().empty()) std::abort();
      break;
    }
    default: {
      tether::fuzz::Input in(data + 1, size - 1);
      tether::fuzz::ReplyTree tree;
      redisReply* r = tree.any(in, 4, 16);
      entries(tether::decode_stream_entries(r));
      entries(tether::decode_xread_reply(r));
      break;
    }
  }
  return 0;
}
