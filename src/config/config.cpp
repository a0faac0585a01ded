// Loading and validating tether.json (see config.h).
#include "config/config.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <fstream>
#include <set>
#include <sstream>

#include "common/route.h"
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

// Field readers: each returns an error message ("" when fine).
std::string read_int(const json& j, const char* name, int64_t lo, int64_t hi, int64_t* out) {
  if (!j.contains(name)) return "";
  const json& v = j.at(name);
  if (!v.is_number_integer() || v.get<int64_t>() < lo || v.get<int64_t>() > hi) {
    return std::string("field '") + name + "': expected an integer from " + std::to_string(lo) + " to " +
           std::to_string(hi) + ", got " + v.dump();
  }
  *out = v.get<int64_t>();
  return "";
}

std::string read_int(const json& j, const char* name, int64_t lo, int64_t hi, int* out) {
  int64_t v = *out;
  std::string e = read_int(j, name, lo, hi, &v);
  *out = static_cast<int>(v);
  return e;
}

std::string read_string(const json& j, const char* name, std::string* out) {
  if (!j.contains(name)) return "";
  const json& v = j.at(name);
  if (!v.is_string()) return std::string("field '") + name + "': expected a string, got " + v.dump();
  *out = v.get<std::string>();
  return "";
}

std::string read_bool(const json& j, const char* name, bool* out) {
  if (!j.contains(name)) return "";
  if (!j.at(name).is_boolean()) return std::string("field '") + name + "': expected true or false, got " + j.at(name).dump();
  *out = j.at(name).get<bool>();
  return "";
}

// The Sentinel fields of the "redis" object (sentinel.h).
std::string read_sentinels(const json& j, RedisOptions* r) {
  std::string e;
  if (!(e = read_string(j, "master", &r->master)).empty()) return "redis: " + e;
  if (!(e = read_string(j, "sentinel_username", &r->sentinel_username)).empty()) return "redis: " + e;
  if (!(e = read_string(j, "sentinel_password", &r->sentinel_password)).empty()) return "redis: " + e;
  if (!j.contains("sentinels")) {
    if (!r->master.empty()) return "redis: field 'master' needs 'sentinels' (a list of \"host:port\")";
    return "";
  }
  const json& s = j.at("sentinels");
  if (!s.is_array() || s.empty()) return "redis: field 'sentinels': expected a list like [\"10.0.0.1:26379\"]";
  for (const auto& v : s) {
    if (!v.is_string()) return "redis: field 'sentinels': expected strings \"host:port\", got " + v.dump();
    auto hp = parse_host_port(v.get<std::string>());
    if (!hp) return "redis: field 'sentinels': " + hp.message();
    r->sentinels.push_back(v.get<std::string>());
  }
  if (r->master.empty()) return "redis: field 'sentinels' needs 'master' (the name the sentinels monitor)";
  if (j.contains("host") || j.contains("port")) return "redis: give either 'host'/'port' or 'sentinels', not both";
  return "";
}

// The "redis" object; errors name redis.<field>.
std::string read_redis(const json& j, RedisOptions* r) {
  if (!j.is_object()) return "field 'redis': expected an object like {\"host\": \"127.0.0.1\", \"port\": 6379}";
  static const std::set<std::string> known = {"host", "port", "password", "db", "prefix", "connect_timeout_ms",
                                              "io_timeout_ms", "sentinels", "master", "username",
                                              "sentinel_username", "sentinel_password"};
  for (auto& [k, v] : j.items()) {
    if (!known.count(k)) return "field 'redis." + k + "': unknown (misspelt?)";
  }
  std::string e;
  if (!(e = read_string(j, "host", &r->host)).empty()) return "redis: " + e;
  if (!(e = read_int(j, "port", 1, 65535, &r->port)).empty()) return "redis: " + e;
  if (!(e = read_string(j, "password", &r->password)).empty()) return "redis: " + e;
  if (!(e = read_int(j, "db", 0, 1000, &r->db)).empty()) return "redis: " + e;
  if (!(e = read_string(j, "prefix", &r->prefix)).empty()) return "redis: " + e;
  if (!(e = read_int(j, "connect_timeout_ms", 1, 60000, &r->connect_timeout_ms)).empty()) return "redis: " + e;
  if (!(e = read_int(j, "io_timeout_ms", 1, 60000, &r->io_timeout_ms)).empty()) return "redis: " + e;
  if (!(e = read_string(j, "username", &r->username)).empty()) return "redis: " + e;
  if (!r->username.empty() && r->password.empty()) return "redis: field 'username' needs 'password' (AUTH user pass)";
  return read_sentinels(j, r);
}

// "listen_mode": octal text like "0660", as php-fpm's listen.mode.
std::string read_mode(const json& j, const char* name, unsigned* out) {
  if (!j.contains(name)) return "";
  const json& v = j.at(name);
  static const RE2 octal("0?[0-7]{3}", fixed_options());
  if (!v.is_string() || !RE2::FullMatch(v.get<std::string>(), octal)) {
    return std::string("field '") + name + "': expected octal permissions as a string, like \"0660\", got " + v.dump();
  }
  *out = static_cast<unsigned>(std::stoul(v.get<std::string>(), nullptr, 8));
  return "";
}

// "listen_owner" / "listen_group": a user or group name, or a number.
std::string read_account(const json& j, const char* name, std::string* out) {
  if (std::string e = read_string(j, name, out); !e.empty()) return e;
  static const RE2 account("[a-z_][a-z0-9_.-]{0,31}\\$?|[0-9]{1,10}", fixed_options(false));
  if (!out->empty() && !RE2::FullMatch(*out, account)) {
    return std::string("field '") + name + "': expected a user or group name or number, got \"" + *out + "\"";
  }
  return "";
}

// "cookie_name": a cookie-name token nginx can read as $cookie_NAME.
// "cookie_path": an absolute path, nothing that would end the attribute.
std::string check_cookie(const Config& c) {
  static const RE2 name("[A-Za-z0-9_]{1,64}", fixed_options());
  if (!RE2::FullMatch(c.cookie_name, name)) {
    return "field 'cookie_name': expected 1 to 64 letters, digits or '_', got \"" + c.cookie_name + "\"";
  }
  static const RE2 path("/[A-Za-z0-9._~!$&'()*+=:@/%-]{0,255}", fixed_options());
  if (!RE2::FullMatch(c.cookie_path, path)) {
    return "field 'cookie_path': expected a path starting with '/' (letters, digits, '/', '-', '_', '.', '~'; "
           "no ';', ',' or spaces), got \"" + c.cookie_path + "\"";
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

const std::set<std::string> kKnownFields = {
    "host", "worker", "listen", "acceptor_threads", "max_acceptor_threads", "session_threads", "session_turns", "idle_timeout_s", "lifetime_s",
    "max_body_bytes", "keepalive_idle_s", "drain_timeout_s", "request_timeout_s", "key_file", "routes",
    "advertise", "redis", "heartbeat_ms", "quick_timeout_ms", "placement", "accept_sessions",
    "cache", "journal", "workflows", "templates", "slow_request_ms", "max_sessions", "max_queued_per_session",
    "max_params_bytes", "listen_owner", "listen_group", "listen_mode", "cookie_name", "cookie_path"};

}  // namespace

std::string Config::route() const { return make_route(host, worker); }

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
  for (auto& [k, v] : j.items()) {
    if (!kKnownFields.count(k)) return fail("unknown field '" + k + "' (misspelt?)");
  }

  Config c;
  c.file = path;
  size_t slash = path.rfind('/');
  c.base_dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));

  std::string e;
  if (!(e = read_string(j, "host", &c.host)).empty()) return fail(e);
  if (!(e = read_int(j, "worker", 0, 65535, &c.worker)).empty()) return fail(e);
  if (!(e = read_string(j, "listen", &c.listen)).empty()) return fail(e);
  if (!(e = read_account(j, "listen_owner", &c.listen_owner)).empty()) return fail(e);
  if (!(e = read_account(j, "listen_group", &c.listen_group)).empty()) return fail(e);
  if (!(e = read_mode(j, "listen_mode", &c.listen_mode)).empty()) return fail(e);
  if (!(e = read_int(j, "acceptor_threads", 1, 4096, &c.acceptor_threads)).empty()) return fail(e);
  if (!(e = read_int(j, "max_acceptor_threads", 1, 65536, &c.max_acceptor_threads)).empty()) return fail(e);
  if (!(e = read_int(j, "session_threads", 1, 256, &c.session_threads)).empty()) return fail(e);
  if (!(e = read_int(j, "idle_timeout_s", 1, 30 * 86400, &c.idle_timeout_s)).empty()) return fail(e);
  if (!(e = read_int(j, "lifetime_s", 1, 365 * 86400, &c.lifetime_s)).empty()) return fail(e);
  if (!(e = read_int(j, "max_body_bytes", 0, int64_t(1) << 34, &c.max_body_bytes)).empty()) return fail(e);
  if (!(e = read_int(j, "keepalive_idle_s", 1, 86400, &c.keepalive_idle_s)).empty()) return fail(e);
  if (!(e = read_int(j, "drain_timeout_s", 1, 3600, &c.drain_timeout_s)).empty()) return fail(e);
  if (!(e = read_int(j, "request_timeout_s", 1, 3600, &c.request_timeout_s)).empty()) return fail(e);
  if (!(e = read_string(j, "key_file", &c.key_file)).empty()) return fail(e);
  if (!(e = read_string(j, "cookie_name", &c.cookie_name)).empty()) return fail(e);
  if (!(e = read_string(j, "cookie_path", &c.cookie_path)).empty()) return fail(e);
  if (!(e = check_cookie(c)).empty()) return fail(e);
  if (!(e = read_int(j, "slow_request_ms", 0, 3600 * 1000, &c.slow_request_ms)).empty()) return fail(e);
  if (!(e = read_string(j, "advertise", &c.advertise)).empty()) return fail(e);
  if (!(e = read_int(j, "max_sessions", 1, 100000000, &c.max_sessions)).empty()) return fail(e);
  if (!(e = read_int(j, "max_queued_per_session", 1, 100000, &c.max_queued_per_session)).empty()) return fail(e);
  if (!(e = read_int(j, "max_params_bytes", 1024, 16 << 20, &c.max_params_bytes)).empty()) return fail(e);
  c.templates_dir = "templates";
  if (!(e = read_string(j, "templates", &c.templates_dir)).empty()) return fail(e);
  if (j.contains("redis")) {
    c.registry = true;
    if (!(e = read_redis(j["redis"], &c.redis)).empty()) return fail(e);
  }
  if (!(e = read_int(j, "heartbeat_ms", 50, 60000, &c.heartbeat_ms)).empty()) return fail(e);
  if (!(e = read_int(j, "quick_timeout_ms", 10, 600000, &c.quick_timeout_ms)).empty()) return fail(e);
  if (!(e = read_string(j, "session_turns", &c.session_turns)).empty()) return fail(e);
  if (c.session_turns != "inline" && c.session_turns != "pinned") {
    return fail("field 'session_turns': expected \"inline\" or \"pinned\", got \"" + c.session_turns + "\"");
  }
  if (!(e = read_string(j, "placement", &c.placement)).empty()) return fail(e);
  if (!(e = read_bool(j, "accept_sessions", &c.accept_sessions)).empty()) return fail(e);
  static const std::set<std::string> policies = {"local", "round_robin", "least_loaded", "app"};
  if (!policies.count(c.placement)) {
    return fail("field 'placement': expected \"local\", \"round_robin\", \"least_loaded\" or \"app\", got \"" +
                c.placement + "\"");
  }
  if (j.contains("routes")) {
    if (!j["routes"].is_array()) return fail("field 'routes': expected an array of rules, got " + j["routes"].dump());
    c.routes = j["routes"];
  }
  for (auto [name, slot] : {std::pair{"cache", &c.cache}, {"journal", &c.journal}, {"workflows", &c.workflows}}) {
    if (!j.contains(name)) continue;
    if (!j[name].is_object()) return fail(std::string("field '") + name + "': expected an object, got " + j[name].dump());
    *slot = j[name];
  }

  if (!ov.host.empty()) c.host = ov.host;
  if (ov.worker >= 0) c.worker = ov.worker;
  if (!ov.listen.empty()) c.listen = ov.listen;

  static const RE2 host_re("[A-Za-z0-9_]{1,32}", fixed_options());
  if (!RE2::FullMatch(c.host, host_re)) {
    return fail("field 'host': expected 1 to 32 letters, digits or '_', got \"" + c.host + "\"");
  }
  if (c.listen.empty()) return fail("field 'listen': required (\"unix:/path/w{worker}.sock\" or \"127.0.0.1:port\")");
  if (ov.listen.empty()) c.listen_pattern = c.listen;  // a flag names one worker's address only
  c.listen = substitute_worker(c.listen, c.worker);
  if (!(e = check_listen(c.listen)).empty()) return fail("field 'listen': " + e);
  c.advertise = c.advertise.empty() ? c.listen : substitute_worker(c.advertise, c.worker);
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
