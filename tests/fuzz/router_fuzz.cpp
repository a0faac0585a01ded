// Fuzzes dispatch rule matching (src/http/router). The first byte picks:
//  even: the example rules of examples/tether.json and a fuzzed path,
//        repeated up to 255 times (a FastCGI caller is not held to
//        nginx's URI limit, so paths of hundreds of KiB must be safe);
//  odd:  up to eight rules whose patterns are built from regex pieces chosen
//        by the input (any number, nested quantifiers included: RE2 is
//        linear in the path), and a fuzzed path of up to kMaxPathBytes + 1.
// Either way Router::match (every rule in one RE2::Set pass, then the first
// one's capture) must agree with running every rule's own RE2 in order, and
// build must refuse bad patterns with an error, never throw.
#include <re2/re2.h>

#include <cstdlib>

#include "fuzz_input.h"
#include "http/router.h"

namespace {

using nlohmann::json;
using tether::Result;
using tether::RouteHandler;

class Nothing final : public RouteHandler {
 public:
  tether::Response serve(tether::Request&, const tether::RouteMatch& m) override {
    return tether::Response::text(m.capture);
  }
};

const std::map<std::string, tether::RouteFactory>& factories() {
  static const std::map<std::string, tether::RouteFactory> f = [] {
    std::map<std::string, tether::RouteFactory> m;
    for (const char* kind : {"session", "file", "status", "controller"}) {
      m[kind] = [](const json&) -> Result<std::unique_ptr<RouteHandler>> {
        return std::unique_ptr<RouteHandler>(new Nothing());
      };
    }
    return m;
  }();
  return f;
}

const char* const kPieces[] = {"^", "/", "a", "b", "/static/", ".", "\\.", "(", ")", "(.*)", "([^/]+)", "[a-z]",
                               "\\d", "$", "|", "-", "x", "*", "+", "?", "{1,2}", "*?", "(?:", "\\/",
                               "\\1", "(?=", "\\b", "[^/]", "\xff", "(?i)", "{2,}", "+?", "\\", "[", "]"};

// Any sequence of pieces: what RE2 refuses (backreferences, lookahead,
// unbalanced or dangling pieces) must come back as an error.
std::string pattern(tether::fuzz::Input& in) {
  std::string p;
  for (size_t n = in.byte() % 17; n > 0; --n) p += kPieces[in.byte() % (sizeof kPieces / sizeof kPieces[0])];
  return p;
}

RE2::Options bytes() {
  RE2::Options opts;
  opts.set_encoding(RE2::Options::EncodingLatin1);
  opts.set_log_errors(false);
  return opts;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::fuzz::Input in(data, size);
  json rules = json::array();
  std::string path;
  if (in.byte() % 2 == 0) {
    rules = json::parse(R"([{"match": "^/tether/status$", "status": {}},
                            {"match": "^/static/(.*)$", "file": "/srv/tether/static"},
                            {"match": "^/api/([a-z]+)/(\\d+)$", "controller": "api"},
                            {"match": "^/", "session": "notes"}])");
    size_t repeat = 1 + in.byte();
    std::string unit = in.rest();
    for (size_t i = 0; i < repeat; ++i) path += unit;
  } else {
    static const char* const kinds[] = {"session", "file", "status", "controller", "nonsense"};
    for (size_t n = 1 + in.byte() % 8; n > 0; --n) {
      rules.push_back({{"match", pattern(in)}, {kinds[in.byte() % 5], "x"}});
    }
    size_t repeat = 1 + in.byte() * 32;  // up to 8 KiB of one short unit
    std::string unit = in.take(in.byte() % 16 + 1);
    for (size_t i = 0; i < repeat && path.size() <= tether::kMaxPathBytes; ++i) path += unit;
  }
  auto router = tether::Router::build(rules, factories());
  if (!router) {
    if (router.message().rfind("routes[", 0) != 0) std::abort();
    return 0;
  }
  tether::RouteMatch got;
  int index = router->match(path, &got);

  int want = -1;
  std::string capture;
  for (size_t i = 0; i < rules.size() && want < 0 && path.size() <= tether::kMaxPathBytes; ++i) {
    RE2 re(rules[i]["match"].get<std::string>(), bytes());
    if (!re.ok()) std::abort();  // build accepted it
    bool found = re.NumberOfCapturingGroups() > 0 ? RE2::PartialMatch(path, re, &capture) : RE2::PartialMatch(path, re);
    if (found) {
      want = static_cast<int>(i);
      if (re.NumberOfCapturingGroups() == 0) capture = path;
    }
  }
  if (index != want || (want >= 0 && got.capture != capture)) std::abort();
  return 0;
}
