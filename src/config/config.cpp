// Loading and validating tether.json (see config.h).
#include "config/config.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "common/route.h"
#include "config/section.h"
#include "redis/options.h"

namespace tether {
namespace {

using nlohmann::json;

// One of the fixed patterns below (RE2 syntax, fully matched; bytes).
RE2::Options fixed_options(bool case_sensitive = true) {
  RE2::Options opts;
  opts.set_encoding(RE2::Options::EncodingLatin1);
  opts.set_case_sensitive(case_sensitive);
  return opts;
}

// The Sentinel fields of the "redis" object (sentinel.h).
void read_sentinels(config::Section& s, RedisOptions* r) {
  s.string("master", &r->master);
  s.string("sentinel_username", &r->sentinel_username);
  s.string("sentinel_password", &r->sentinel_password);
  if (!s.ok()) return;
  if (!s.has("sentinels")) {
    if (!r->master.empty()) s.fail("master", "needs 'sentinels' (a list of \"host:port\")");
    return;
  }
  std::vector<std::string> sentinels;
  s.string_list("sentinels", "a list like [\"10.0.0.1:26379\"]", &sentinels);
  for (const auto& hp : sentinels) {
    if (auto parsed = parse_host_port(hp); !parsed) return s.fail("sentinels", parsed.message());
  }
  if (!s.ok()) return;
  r->sentinels.insert(r->sentinels.end(), sentinels.begin(), sentinels.end());
  if (r->master.empty()) return s.fail("sentinels", "needs 'master' (the name the sentinels monitor)");
  if (s.has("host") || s.has("port")) s.fail(nullptr, "give either 'host'/'port' or 'sentinels', not both");
}

// The "redis" object; errors name redis.<field>.
Status read_redis(const json& j, const std::string& file, RedisOptions* r) {
  config::Section s(j, "redis", file);
  if (!j.is_object()) {
    s.fail(nullptr, "expected an object like {\"host\": \"127.0.0.1\", \"port\": 6379}");
    return s.status();
  }
  s.known({"host", "port", "password", "db", "prefix", "connect_timeout_ms", "io_timeout_ms", "sentinels", "master",
           "username", "sentinel_username", "sentinel_password"});
  s.string("host", &r->host);
  s.integer("port", 1, 65535, &r->port);
  s.string("password", &r->password);
  s.integer("db", 0, 1000, &r->db);
  s.string("prefix", &r->prefix);
  s.integer("connect_timeout_ms", 1, 60000, &r->connect_timeout_ms);
  s.integer("io_timeout_ms", 1, 60000, &r->io_timeout_ms);
  s.string("username", &r->username);
  if (s.ok() && !r->username.empty() && r->password.empty()) s.fail("username", "needs 'password' (AUTH user pass)");
  read_sentinels(s, r);
  return s.status();
}

// "listen_mode": octal text like "0660", as php-fpm's listen.mode.
void read_mode(config::Section& s, const char* name, unsigned* out) {
  const json* v = s.ok() ? s.find(name) : nullptr;
  if (v == nullptr) return;
  static const RE2 octal("0?[0-7]{3}", fixed_options());
  if (!v->is_string() || !RE2::FullMatch(v->get<std::string>(), octal)) {
    return s.fail(name, "expected octal permissions as a string, like \"0660\", got " + config::Section::shown(*v));
  }
  *out = static_cast<unsigned>(std::stoul(v->get<std::string>(), nullptr, 8));
}

// "listen_owner" / "listen_group": a user or group name, or a number.
void read_account(config::Section& s, const char* name, std::string* out) {
  s.string(name, out);
  static const RE2 account("[a-z_][a-z0-9_.-]{0,31}\\$?|[0-9]{1,10}", fixed_options(false));
  if (s.ok() && !out->empty() && !RE2::FullMatch(*out, account)) {
    s.fail(name, "expected a user or group name or number, got " + config::Section::shown(*out));
  }
}

// "cookie_name": a cookie-name token nginx can read as $cookie_NAME.
// "cookie_path": an absolute path, nothing that would end the attribute.
std::string check_cookie(const Config& c) {
  static const RE2 name("[A-Za-z0-9_]{1,64}", fixed_options());
  if (!RE2::FullMatch(c.cookie_name, name)) {
    return "field 'cookie_name': expected 1 to 64 letters, digits or '_', got " + config::Section::shown(c.cookie_name);
  }
  static const RE2 path("/[A-Za-z0-9._~!$&'()*+=:@/%-]{0,255}", fixed_options());
  if (!RE2::FullMatch(c.cookie_path, path)) {
    return "field 'cookie_path': expected a path starting with '/' (letters, digits, '/', '-', '_', '.', '~'; "
           "no ';', ',' or spaces), got " + config::Section::shown(c.cookie_path);
  }
  // Browsers drop a SameSite=None cookie without Secure, and a __Host- one
  // without Secure or with a Path other than "/": refuse what would never be kept.
  if (c.cookie_samesite == "None" && c.cookie_secure != "always") {
    return "field 'cookie_samesite': \"None\" needs \"cookie_secure\": \"always\" (browsers refuse a "
           "SameSite=None cookie without Secure), got cookie_secure " + config::Section::shown(c.cookie_secure);
  }
  if (c.cookie_host_prefix && c.cookie_secure != "always") {
    return "field 'cookie_host_prefix': true needs \"cookie_secure\": \"always\" (browsers refuse a __Host- "
           "cookie without Secure), got cookie_secure " + config::Section::shown(c.cookie_secure);
  }
  if (c.cookie_host_prefix && c.cookie_path != "/") {
    return "field 'cookie_host_prefix': true needs \"cookie_path\": \"/\" (browsers refuse a __Host- cookie "
           "with another Path), got cookie_path " + config::Section::shown(c.cookie_path);
  }
  return "";
}

std::string substitute_worker(std::string s, int worker) {
  const std::string tag = "{worker}";
  for (size_t pos; (pos = s.find(tag)) != std::string::npos;) s.replace(pos, tag.size(), std::to_string(worker));
  return s;
}

std::string check_listen(const std::string& listen) {
  if (listen.rfind("unix:", 0) == 0) {
    if (listen.size() <= 5) return "expected a socket path after 'unix:'";
    if (listen.size() - 5 >= 108) return "unix socket path longer than 107 bytes";
    return "";
  }
  static const RE2 tcp(R"((\d{1,3}(?:\.\d{1,3}){3}|localhost):(\d{1,5}))", fixed_options());
  std::string host;
  int port = 0;
  in_addr addr{};
  if (!RE2::FullMatch(listen, tcp, &host, &port) || port < 1 || port > 65535 ||
      (host != "localhost" && inet_pton(AF_INET, host.c_str(), &addr) != 1)) {
    return "expected \"unix:/path.sock\" or \"IPv4:port\", got \"" + listen + "\"";
  }
  return "";
}

// A TCP address on the loopback network (127.0.0.0/8 or "localhost").
bool loopback_tcp(const std::string& addr) {
  return addr.rfind("127.", 0) == 0 || addr.rfind("localhost:", 0) == 0;
}

// The default peer listener beside a unix listen: "w0.sock" -> "w0.peer.sock".
std::string peer_beside(const std::string& listen) {
  const std::string sock = ".sock";
  if (listen.size() > sock.size() && listen.compare(listen.size() - sock.size(), sock.size(), sock) == 0) {
    return listen.substr(0, listen.size() - sock.size()) + ".peer.sock";
  }
  return listen + ".peer";
}

}  // namespace

std::string Config::route() const { return make_route(host, worker); }

std::string Config::session_cookie() const { return (cookie_host_prefix ? "__Host-" : "") + cookie_name; }

std::string resolve_path(const Config& c, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return c.base_dir.back() == '/' ? c.base_dir + p : c.base_dir + "/" + p;
}

Result<Config> parse_config(const std::string& text, const std::string& path, const ConfigOverrides& ov) {
  using R = Result<Config>;
  auto fail = [&](const std::string& what) { return R::error(path + ": " + what); };
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    // Parse again with exceptions on, only to get the position of the error.
    try {
      json again = json::parse(text);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      return fail(std::string("not valid JSON: ") + e.what());
    }
    return fail("not valid JSON");
  }
  if (!j.is_object()) return fail("expected a JSON object at the top level");
  config::Section top(j, "", path);
  top.known({"host", "worker", "listen", "acceptor_threads", "max_acceptor_threads", "session_threads", "session_turns",
             "idle_timeout_s", "lifetime_s", "max_body_bytes", "keepalive_idle_s", "drain_timeout_s",
             "request_timeout_s", "key_file", "routes", "advertise", "peer_listen", "listen_network_trusted", "redis", "heartbeat_ms", "quick_timeout_ms",
             "cookie_secure", "cookie_samesite", "cookie_host_prefix",
             "placement", "accept_sessions", "cache", "journal", "workflows", "templates", "slow_request_ms",
             "max_sessions", "max_queued_per_session", "max_params_bytes", "max_snapshot_bytes", "max_live_sessions", "listen_owner", "listen_group",
             "listen_mode", "cookie_name", "cookie_path"});

  Config c;
  c.file = path;
  size_t slash = path.rfind('/');
  c.base_dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));

  top.string("host", &c.host);
  top.integer("worker", 0, 65535, &c.worker);
  top.string("listen", &c.listen);
  top.string("peer_listen", &c.peer_listen);
  top.boolean("listen_network_trusted", &c.listen_network_trusted);
  read_account(top, "listen_owner", &c.listen_owner);
  read_account(top, "listen_group", &c.listen_group);
  read_mode(top, "listen_mode", &c.listen_mode);
  top.integer("acceptor_threads", 1, 4096, &c.acceptor_threads);
  top.integer("max_acceptor_threads", 1, 65536, &c.max_acceptor_threads);
  top.integer("session_threads", 1, 256, &c.session_threads);
  top.integer("idle_timeout_s", 1, 30 * 86400, &c.idle_timeout_s);
  top.integer("lifetime_s", 1, 365 * 86400, &c.lifetime_s);
  top.integer("max_body_bytes", 0, int64_t(1) << 34, &c.max_body_bytes);
  top.integer("keepalive_idle_s", 1, 86400, &c.keepalive_idle_s);
  top.integer("drain_timeout_s", 1, 3600, &c.drain_timeout_s);
  top.integer("request_timeout_s", 1, 3600, &c.request_timeout_s);
  top.string("key_file", &c.key_file);
  top.string("cookie_name", &c.cookie_name);
  top.string("cookie_path", &c.cookie_path);
  top.one_of("cookie_secure", {"auto", "always"}, &c.cookie_secure);
  top.one_of("cookie_samesite", {"Lax", "Strict", "None"}, &c.cookie_samesite);
  top.boolean("cookie_host_prefix", &c.cookie_host_prefix);
  if (!top.ok()) return top.status();
  std::string e;
  if (!(e = check_cookie(c)).empty()) return fail(e);
  top.integer("slow_request_ms", 0, 3600 * 1000, &c.slow_request_ms);
  top.string("advertise", &c.advertise);
  top.integer("max_sessions", 1, 100000000, &c.max_sessions);
  top.integer("max_queued_per_session", 1, 100000, &c.max_queued_per_session);
  top.integer("max_params_bytes", 1024, 16 << 20, &c.max_params_bytes);
  top.integer("max_snapshot_bytes", 1024, int64_t{64} << 20, &c.max_snapshot_bytes);
  top.integer("max_live_sessions", 0, 100000000, &c.max_live_sessions);
  c.templates_dir = "templates";
  top.string("templates", &c.templates_dir);
  if (!top.ok()) return top.status();
  if (const json* redis = top.find("redis")) {
    c.registry = true;
    if (Status s = read_redis(*redis, path, &c.redis); !s) return s;
  }
  top.integer("heartbeat_ms", 50, 60000, &c.heartbeat_ms);
  top.integer("quick_timeout_ms", 10, 600000, &c.quick_timeout_ms);
  top.one_of("session_turns", {"inline", "pinned"}, &c.session_turns);
  top.one_of("placement", {"local", "round_robin", "least_loaded", "app"}, &c.placement);
  top.boolean("accept_sessions", &c.accept_sessions);
  if (const json* routes = top.find("routes")) {
    if (!routes->is_array()) top.fail("routes", "expected an array of rules, got " + config::Section::shown(*routes));
    else c.routes = *routes;
  }
  for (auto [name, slot] : {std::pair{"cache", &c.cache}, {"journal", &c.journal}, {"workflows", &c.workflows}}) {
    const json* v = top.find(name);
    if (v == nullptr) continue;
    if (!v->is_object()) top.fail(name, "expected an object, got " + config::Section::shown(*v));
    else *slot = *v;
  }
  if (!top.ok()) return top.status();

  if (!ov.host.empty()) c.host = ov.host;
  if (ov.worker >= 0) c.worker = ov.worker;
  if (!ov.listen.empty()) c.listen = ov.listen;
  if (!ov.peer_listen.empty()) c.peer_listen = ov.peer_listen;

  if (!valid_host_id(c.host)) {
    return fail("field 'host': expected 1 to 32 letters, digits or '_', got \"" + c.host + "\"");
  }
  if (c.listen.empty()) return fail("field 'listen': required (\"unix:/path/w{worker}.sock\" or \"127.0.0.1:port\")");
  bool unix_listen = c.listen.rfind("unix:", 0) == 0;
  if (c.peer_listen.empty()) {
    if (!unix_listen) {
      return fail("field 'peer_listen': required when 'listen' is a TCP address (the peer listener needs an "
                  "address of its own, e.g. \"10.0.0.5:97{worker}0\")");
    }
    c.peer_listen = peer_beside(c.listen);
  }
  // A flag names one worker's address only: no pattern for the others.
  if (ov.listen.empty() && ov.peer_listen.empty()) c.peer_listen_pattern = c.peer_listen;
  c.listen = substitute_worker(c.listen, c.worker);
  if (!(e = check_listen(c.listen)).empty()) return fail("field 'listen': " + e);
  if (!unix_listen && !loopback_tcp(c.listen) && !c.listen_network_trusted) {
    return fail("field 'listen': " + c.listen + " is reachable from the network, and libfcgi (which reads this "
                "listener) has bugs any FastCGI client can trigger; use a unix socket or a 127.x address, or set "
                "\"listen_network_trusted\": true if only nginx can reach it (README, \"Security model\")");
  }
  c.peer_listen = substitute_worker(c.peer_listen, c.worker);
  if (!(e = check_listen(c.peer_listen)).empty()) return fail("field 'peer_listen': " + e);
  if (c.peer_listen == c.listen) return fail("field 'peer_listen': must differ from 'listen' (" + c.listen + ")");
  c.advertise = c.advertise.empty() ? c.peer_listen : substitute_worker(c.advertise, c.worker);
  if (!(e = check_listen(c.advertise)).empty()) return fail("field 'advertise': " + e);
  if (c.key_file.empty()) return fail("field 'key_file': required (a file of 64-hex-digit keys, mode 600)");
  c.key_file = resolve_path(c, c.key_file);
  c.templates_dir = resolve_path(c, c.templates_dir);
  if (c.max_acceptor_threads < c.acceptor_threads) {
    return fail("field 'max_acceptor_threads': expected at least acceptor_threads (" +
                std::to_string(c.acceptor_threads) + ")");
  }
  if (c.lifetime_s < c.idle_timeout_s) {
    return fail("field 'lifetime_s': expected at least idle_timeout_s (" + std::to_string(c.idle_timeout_s) + ")");
  }
  return c;
}

Result<Config> load_config(const std::string& path, const ConfigOverrides& ov) {
  std::ifstream in(path);
  if (!in) return Result<Config>::error(path + ": cannot read the configuration file (missing?)");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path, ov);
}

}  // namespace tether
