// Fuzzes the whole request path of a worker, in process: FastCGI params and
// a body, as nginx (or anything that reaches the socket) sends them, go
// through fcgi::read_params into a tether::Request, then dispatch_request
// (or, with a TETHER_PEER param, as the peer channel's params: through
// fcgi::read_param_pairs, the same decoder with the peer prefix set apart,
// then dispatch_peer_request: the PeerGate and the hand-over receiver, as
// for an authenticated peer), the dispatch
// rules, then the templates' finish step, as
// worker.cpp's handler does. The rules are those of `make run`
// (scripts/cluster.py default_routes) plus the test kit's cached pages,
// with the demo and test kit apps registered as tetherd does, and no
// "redis": placement local, no registry, the workflow API answers errors.
// Sessions live on a real SessionPool and outlive one input: a cookie an
// earlier response set can be replayed ($sid, $old below).
//
// An input is text: up to 16 requests separated by a line "~~~". Each is
//   METHOD TARGET            the request line; TARGET is REQUEST_URI, its
//                            path percent-decoded (as nginx does) is
//                            DOCUMENT_URI, after '?' QUERY_STRING
//   Name: value              a header (HTTP_NAME; Content-Type goes to
//                            CONTENT_TYPE)
//   =NAME=value              a raw FastCGI param (TETHER_*, HTTPS, a
//                            DOCUMENT_URI that differs from the target)
//   (empty line)
//   body                     CONTENT_LENGTH is its size
// In header values and raw params "$sid" stands for the session token
// last set by a response, "$old" for the oldest one kept.
//
// Checks: nothing throws on the acceptor's side (the server's firewall
// would turn it into a 500, but it is a bug), every status is an HTTP
// status, and every JSON body is valid UTF-8 (json_text everywhere).
// Skipped: the test kit's /t/slow, which sleeps on purpose.
// REQUEST_FUZZ_TRACE=1 prints each request's status, method and path.
//
// Thread ownership: libFuzzer's thread drives requests; the pool's session
// threads run sessions, as in a worker.
#include <fcgiapp.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "apps/demo/notes.h"
#include "apps/demo/workflow_steps.h"
#include "apps/testkit/kit_controllers.h"
#include "apps/testkit/testkit.h"
#include "cache/service.h"
#include "cache/settings.h"
#include "common/clock.h"
#include "common/json.h"
#include "fcgi/exchange.h"
#include "fcgi/server.h"
#include "http/parse.h"
#include "session/pool.h"
#include "tether/app.h"
#include "worker/dispatch.h"
#include "cluster/forwarder.h"
#include "cluster/peer_gate.h"
#include "cluster/placement.h"
#include "worker/site.h"
#include "ops/status_route.h"
#include "worker/worker.h"
#include "workflow/definition.h"
#include "workflow/stats.h"

namespace fs = std::filesystem;

namespace tether {

// worker.cpp's entry points, which this target does not link: App::run
// with --check-config hands the loaded configuration and what the apps
// registered to check_worker_config, which keeps them here.
namespace {
std::optional<Config> g_config;
const AppRegistry* g_apps = nullptr;
}  // namespace

int check_worker_config(const Config& config, const AppRegistry& apps) {
  g_config = config;
  g_apps = &apps;
  return 0;
}

int run_worker(const Config&, const AppRegistry&) { std::abort(); }

}  // namespace tether

namespace {

using namespace tether;

// The connection as a request in memory has it: the caller never hangs up.
struct FuzzConnection final : fcgi::Connection {
  bool caller_gone() override { return false; }
  void early_note(std::string_view) override {}
  void abandon() override { abandoned = true; }
  bool abandoned = false;
};

void die(const std::string& why) {
  fprintf(stderr, "request_fuzz: %s\n", why.c_str());
  std::abort();
}

// The demo's templates and static files, found from the working directory
// (tests/fuzz/run.sh runs from the repository root).
fs::path demo_dir() {
  fs::path p = fs::current_path();
  for (int i = 0; i < 5; ++i, p = p.parent_path()) {
    if (fs::is_directory(p / "src/apps/demo/templates")) return p / "src/apps/demo";
  }
  die("src/apps/demo not found above the working directory");
  return {};
}

nlohmann::json routes(const std::string& static_dir) {
  using nlohmann::json;
  return json::array({
      {{"match", "^/static/(.*)$"}, {"file", static_dir}},
      {{"match", "^/tether/status$"}, {"status", json::object()}},
      {{"match", "^/tether/ping$"}, {"ping", json::object()}},
      {{"match", "^/tether/admin(/.*)?$"}, {"admin", json::object()}},
      {{"match", "^/hello$"}, {"controller", "hello"}},
      {{"match", "^/about$"}, {"template", "about"}, {"cache", {{"type", "persistent"}, {"groups", {"about"}}}}},
      {{"match", "^/t/"}, {"session", "testkit"}},
      {{"match", "^/api/workflow/"}, {"workflow", json::object()}},
      {{"match", "^/demo/steps/"}, {"controller", "demo_steps"}},
      // The test kit's cached pages (tests/integration's cache rules).
      {{"match", "^/kit/page/p/"},
       {"controller", "kit_page"},
       {"cache", {{"type", "persistent"}, {"groups", {"pages"}}}}},
      {{"match", "^/kit/page/t/"}, {"controller", "kit_page"}, {"cache", {{"timeout", 3600}}}},
      {{"match", "^/kit/page/anon/"},
       {"controller", "kit_page"},
       {"cache", {{"type", "normal"}, {"hook", "kit_anonymous"}}}},
      {{"match", "^/kit/render"},
       {"controller", "kit_render"},
       {"cache", {{"type", "normal"}, {"groups", {"rendered"}}}}},
      {{"match", "^/kit/invalidate$"}, {"controller", "kit_invalidate"}},
      {{"match", "^/kit/save$"}, {"controller", "kit_save"}},
      {{"match", "^/"}, {"session", "notes"}},
  });
}

// One worker's pieces, as worker.cpp's Worker holds them; made once.
struct World {
  SteadyClock clock;
  Config config;
  const AppRegistry* apps = nullptr;
  std::unique_ptr<SessionPool> pool;
  std::optional<TokenCodec> codec;
  std::optional<Forwarder> forwarder;
  std::optional<Placement> placement;
  std::unique_ptr<CacheService> cache;
  workflow::Definitions wf_defs;
  workflow::Stats wf_stats;
  fcgi::ServerStats server_stats;
  std::atomic<uint64_t> slow{0};
  std::optional<PeerGate> gate;
  int64_t started = unix_seconds();
  std::shared_ptr<const Site> site;
  std::deque<std::string> jar;  // session tokens responses set, newest last
  App* app = nullptr;           // what the apps registered lives as long as the process

  StatusSources status_sources() {
    StatusSources src{config, server_stats, pool->stats(), forwarder->stats(), nullptr, {}};
    src.sections["cache"] = [this] { return cache->stats_json(); };
    src.started = started;
    src.slow_requests = &slow;
    return src;
  }
};

World& world() {
  static World* w = [] {
    auto* w = new World;
    if (sodium_init() < 0) die("libsodium failed to initialise");
    char tmpl[] = "/tmp/tether-request-fuzz-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) die("mkdtemp failed");
    fs::path dir = tmpl, demo = demo_dir();
    fs::copy(demo / "templates", dir / "templates", fs::copy_options::recursive);
    fs::copy(demo / "static", dir / "static", fs::copy_options::recursive);
    // The test kit's page (kit_render), as tests/integration/test_cache.py writes it: a
    // cached fragment and a section, so the finish step has both to do.
    fs::create_directories(dir / "templates/kit");
    std::ofstream(dir / "templates/kit/page.mustache")
        << "<h1>{{headline}}</h1>{{! cache id=kit-side groups=side }}side of render {{n}}{{! /cache }}"
           " {{path}} {{#items}}<i class={{kind}}>{{name}}={{value}}</i>{{/items}} body of render {{n}}\n";
    std::ofstream(dir / "keys") << "# fuzz key\n" << std::string(64, 'a') << "\n";
    fs::permissions(dir / "keys", fs::perms::owner_read | fs::perms::owner_write);
    nlohmann::json cfg = {{"host", "h1"},
                          {"listen", "unix:" + (dir / "w{worker}.sock").string()},
                          {"key_file", (dir / "keys").string()},
                          {"templates", (dir / "templates").string()},
                          {"acceptor_threads", 16},
                          {"session_threads", 2},
                          {"request_timeout_s", 5},
                          {"max_sessions", 24},
                          {"routes", routes((dir / "static").string())}};
    std::ofstream(dir / "tether.json") << cfg.dump(2);

    App* app = w->app = new App;
    app->session<demo::NotesSession>("notes");
    app->session<testkit::KitSession>("testkit");
    app->controller("hello", [](const Request&) { return Response::text("hello\n"); });
    testkit::register_controllers(*app);
    app->controller("demo_steps", demo::workflow_step);
    std::string config_path = (dir / "tether.json").string();
    const char* argv[] = {"request_fuzz", "--config", config_path.c_str(), "--worker", "0", "--check-config"};
    if (app->run(6, const_cast<char**>(argv)) != 0 || !g_config || !g_apps) die("the configuration did not load");
    w->config = *g_config;
    w->apps = g_apps;

    const Config& c = w->config;
    SessionTimeouts t;
    t.idle_ms = c.idle_timeout_s * 1000LL;
    t.lifetime_ms = c.lifetime_s * 1000LL;
    w->pool = std::make_unique<SessionPool>(w->clock, t, c.route(), c.session_threads, nullptr);
    auto codec = TokenCodec::from_key_file(c.key_file);
    if (!codec) die(codec.message());
    w->codec.emplace(std::move(codec.value()));
    w->forwarder.emplace(c, *w->codec, nullptr);
    w->gate.emplace(w->forwarder->stats(), nullptr);
    auto policy = Placement::parse(c.placement);
    if (!policy) die(policy.message());
    w->placement.emplace(*policy, c.accept_sessions, c.host, c.worker, nullptr, w->apps->placement);
    auto settings = parse_cache_settings(c.cache, c.base_dir);
    if (!settings) die(settings.message());
    w->cache = std::make_unique<CacheService>(w->clock, settings.value(), nullptr, c.route() + ":fuzz");
    auto defs = workflow::parse_definitions(c.workflows, c.file);
    if (!defs) die(defs.message());
    w->wf_defs = std::move(defs.value());
    SiteParts parts{w->config, *w->apps, *w->codec,  *w->pool,    *w->forwarder, *w->placement,
                    nullptr,   nullptr,  w->wf_defs, w->wf_stats, *w->cache,     [w] { return w->status_sources(); }};
    auto site = build_site(w->config, parts);
    if (!site) die(site.message());
    w->site = site.value();
    w->pool->start();
    w->cache->start();
    return w;
  }();
  return *w;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

std::string with_tokens(const std::string& s, const World& w) {
  if (s.find('$') == std::string::npos) return s;
  std::string out = replace_all(s, "$sid", w.jar.empty() ? "" : w.jar.back());
  return replace_all(out, "$old", w.jar.empty() ? "" : w.jar.front());
}

// The FastCGI params nginx would send for one request's text.
struct Built {
  std::vector<std::string> env;
  std::string body;
};

Built build(std::string_view text, const World& w) {
  Built b;
  size_t nl = text.find('\n');
  std::string_view line = text.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  size_t sp = line.find(' ');
  std::string method(line.substr(0, sp));
  std::string target(sp == std::string_view::npos ? std::string_view("/") : line.substr(sp + 1));
  size_t q = target.find('?');
  b.env.push_back("REQUEST_METHOD=" + method);
  b.env.push_back("REQUEST_URI=" + target);
  b.env.push_back("DOCUMENT_URI=" + http::percent_decode(std::string_view(target).substr(0, q), false));
  if (q != std::string::npos) b.env.push_back("QUERY_STRING=" + target.substr(q + 1));
  b.env.push_back("REMOTE_ADDR=127.0.0.1");
  std::vector<std::string> raw;
  while (!rest.empty()) {
    nl = rest.find('\n');
    std::string_view h = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (h.empty()) break;
    if (h[0] == '=') {
      raw.push_back(with_tokens(std::string(h.substr(1)), w));
      continue;
    }
    size_t colon = h.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(h.substr(0, colon));
    std::string value(h.substr(colon + 1));
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    for (char& c : name) c = c == '-' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(c)));
    if (name == "CONTENT_TYPE" || name == "CONTENT_LENGTH") {
      b.env.push_back(name + "=" + value);
    } else {
      b.env.push_back("HTTP_" + name + "=" + with_tokens(value, w));
    }
  }
  b.body = std::string(rest);
  b.env.push_back("CONTENT_LENGTH=" + std::to_string(b.body.size()));
  for (auto& r : raw) b.env.push_back(std::move(r));  // after the rest: they win
  return b;
}

void keep_cookie(World& w, const Response& r) {
  for (const auto& [k, v] : r.headers) {
    if (k != "Set-Cookie" || v.rfind("tether_sid=", 0) != 0) continue;
    std::string token = v.substr(11, v.find(';') - 11);
    if (token.empty()) continue;
    w.jar.push_back(token);
    if (w.jar.size() > 8) w.jar.pop_front();
  }
}

// kit_save answers whatever status ?status= names (the test kit's own
// choice; write_response passes it on as is, see the report).
void check(const Response& r, const std::string& shown) {
  // The test kit's /kit/save answers the status it is asked for, whatever
  // the method (the server turns a bad one into 500 when it writes it).
  const std::string kit_save = " /kit/save";
  bool asked = shown.size() >= kit_save.size() && shown.compare(shown.size() - kit_save.size(), kit_save.size(), kit_save) == 0;
  if ((r.status < 100 || r.status > 599) && !asked) die("status " + std::to_string(r.status));
  for (const auto& [k, v] : r.headers) {
    if (k == "Content-Type" && v.rfind("application/json", 0) == 0 && !valid_utf8(r.body)) {
      die("a JSON body that is not valid UTF-8: " + utf8_or_replaced(r.body.substr(0, 200)));
    }
  }
}

void serve(World& w, std::string_view text) {
  Built b = build(text, w);
  std::vector<char*> envp;
  for (auto& e : b.env) envp.push_back(e.data());
  envp.push_back(nullptr);
  FCGX_Request fr;
  memset(&fr, 0, sizeof fr);
  fr.envp = envp.data();
  Request req;
  std::map<std::string, std::string> peer_params;
  if (fcgi::params_bytes(fr) > w.config.max_params_bytes) return;  // 431 (the peer server's bound is the same)
  const std::string peer_mark = std::string(kPeerParamPrefix) + "PEER=";
  bool from_peer = std::any_of(b.env.begin(), b.env.end(), [&](const std::string& e) { return e.rfind(peer_mark, 0) == 0; });
  if (from_peer) {
    // The params as the peer channel hands them over (cluster/peer_server.cpp).
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& e : b.env) {
      size_t eq = e.find('=');
      if (eq != std::string::npos) pairs.emplace_back(e.substr(0, eq), e.substr(eq + 1));
    }
    fcgi::read_param_pairs(pairs, req, kPeerParamPrefix, &peer_params);
  } else if (!fcgi::read_params(fr, req, w.config.max_params_bytes)) {
    return;  // 431
  }
  if (static_cast<int64_t>(b.body.size()) > w.config.max_body_bytes) return;         // 413
  if (req.path == "/t/slow") return;                                                 // sleeps on purpose
  req.body = std::move(b.body);
  std::string shown = req.method + " " + req.path;  // the session route moves req
  FuzzConnection conn;
  // A TETHER_PEER param stands for a request an authenticated peer forwarded
  // over the peer channel (its crypto: tests/unit/cluster/peer_channel_test).
  auto peer = peer_params.find("TETHER_PEER");
  Response r = peer == peer_params.end()
                   ? dispatch_request(*w.site, req)
                   : dispatch_peer_request(*w.site, req, Forwarded{peer->second, peer_params["TETHER_REASON"]}, conn,
                                           *w.gate);
  if (conn.abandoned) return;  // no reply is written
  w.site->templates->finish(r, &w.cache->store());
  check(r, shown);
  keep_cookie(w, r);
  // REQUEST_FUZZ_TRACE=1: one line per request, to see which paths a seed reaches.
  static const bool trace = getenv("REQUEST_FUZZ_TRACE") != nullptr;
  if (trace) {
    fprintf(stderr, "request_fuzz: %d %s: %s\n", r.status, utf8_or_replaced(shown).c_str(),
            utf8_or_replaced(r.body.substr(0, r.status >= 500 ? 160 : 0)).c_str());
  }
}

// Keeps the sessions from growing without bound across inputs: past 16,
// all but the 8 newest end.
void trim_sessions(World& w) {
  if (w.pool->stats().live.load() <= 16) return;
  auto live = w.pool->snapshot();
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  for (size_t i = 8; i < live.size(); ++i) w.pool->kill(live[i].first);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  world();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int n = 0; n < 16 && !in.empty(); ++n) {
    size_t sep = in.find("\n~~~\n");
    serve(w, in.substr(0, sep));
    in = sep == std::string_view::npos ? std::string_view() : in.substr(sep + 5);
  }
  trim_sessions(w);
  return 0;
}
