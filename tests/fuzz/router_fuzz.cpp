// Fuzzes dispatch rule matching (src/http/router). The first byte picks:
//  even: the example rules of examples/tether.json and a fuzzed path,
//        repeated up to 255 times (a FastCGI caller is not held to
//        nginx's URI limit, so paths of hundreds of KiB must be safe);
//  odd:  up to four rules whose patterns are built from regex pieces chosen
//        by the input, and a short fuzzed path. At most two repeated pieces
//        per pattern and never a nested quantifier: rules are the operator's,
//        and five unanchored "([^/]+)" in a row are O(n^6) in std::regex
//        (not a tether bug, but it would stall the fuzzer).
// Either way Router::match must agree with running every rule's regex in
// order without the literal-prefix pre-check (which only skips work), and
// build must refuse bad patterns with an error, never throw.
#include <cstdlib>
#include <regex>

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
                               "\\d", "$", "|", "-", "x", "*", "+", "?", "{1,2}", "*?", "(?:", "\\/"};
constexpr size_t kQuantifiers = 17;  // kPieces[17..] repeat what comes before them

std::string pattern(tether::fuzz::Input& in) {
  std::string p;
  bool after_group_or_quantifier = true;  // nothing to repeat at the start
  int repeated = 0;                       // pieces that repeat: "(.*)", "([^/]+)", quantifiers
  for (size_t n = in.byte() % 9; n > 0; --n) {
    size_t i = in.byte() % (sizeof kPieces / sizeof kPieces[0]);
    bool quantifier = i >= kQuantifiers;
    if (quantifier && after_group_or_quantifier) continue;
    if ((quantifier || i == 9 || i == 10) && ++repeated > 2) continue;
    p += kPieces[i];
    std::string_view piece = kPieces[i];
    after_group_or_quantifier = quantifier || piece.back() == ')' || piece == "(" || piece == "(?:" || piece == "|" || piece == "^";
  }
  return p;
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
    for (size_t n = 1 + in.byte() % 4; n > 0; --n) {
      rules.push_back({{"match", pattern(in)}, {kinds[in.byte() % 5], "x"}});
    }
    path = in.take(48);
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
    std::regex re(rules[i]["match"].get<std::string>(), std::regex::ECMAScript);
    std::smatch m;
    if (std::regex_search(path, m, re)) {
      want = static_cast<int>(i);
      capture = m.size() > 1 ? m[1].str() : path;
    }
  }
  if (index != want || (want >= 0 && got.capture != capture)) std::abort();
  return 0;
}
