// Tests tether.json parsing and validation (src/config): defaults, errors, overrides.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "config/config.h"

namespace tether {
namespace {

const std::string kPath = "/etc/tether/tether.json";
const std::string kMinimal = R"({"listen":"unix:/tmp/x/w{worker}.sock","key_file":"k"})";

// The minimal config with extra fields spliced in, e.g. with(R"("worker": 3)").
std::string with(const std::string& fields) {
  return R"({"listen":"unix:/tmp/x/w{worker}.sock","key_file":"k",)" + fields + "}";
}

// Expects parse_config(text) to fail with a message naming kPath and every one of parts.
void expect_error(const std::string& text, std::initializer_list<std::string> parts, const ConfigOverrides& ov = {}) {
  auto r = parse_config(text, kPath, ov);
  ASSERT_FALSE(r) << "accepted: " << text;
  EXPECT_EQ(r.message().rfind(kPath, 0), 0u) << r.message();
  for (const auto& p : parts) EXPECT_NE(r.message().find(p), std::string::npos) << "'" << p << "' not in: " << r.message();
}

TEST(ConfigTest, MinimalConfigGetsDefaults) {
  auto r = parse_config(kMinimal, kPath);
  ASSERT_TRUE(r) << r.message();
  const Config& c = r.value();
  EXPECT_EQ(c.file, kPath);
  EXPECT_EQ(c.base_dir, "/etc/tether");
  EXPECT_EQ(c.host, "h1");
  EXPECT_EQ(c.worker, 0);
  EXPECT_EQ(c.listen, "unix:/tmp/x/w0.sock");
  // The defaults are the ones config.h documents; parsing leaves them alone.
  const Config d;
  EXPECT_EQ(c.acceptor_threads, d.acceptor_threads);
  EXPECT_EQ(c.max_acceptor_threads, d.max_acceptor_threads);
  EXPECT_GE(c.max_acceptor_threads, c.acceptor_threads);
  EXPECT_EQ(c.session_threads, 2);
  EXPECT_EQ(c.idle_timeout_s, 1800);
  EXPECT_EQ(c.lifetime_s, 86400);
  EXPECT_EQ(c.max_body_bytes, 1 << 20);
  EXPECT_EQ(c.keepalive_idle_s, d.keepalive_idle_s);
  EXPECT_EQ(c.drain_timeout_s, d.drain_timeout_s);
  EXPECT_EQ(c.request_timeout_s, d.request_timeout_s);
  EXPECT_EQ(c.key_file, "/etc/tether/k");
  EXPECT_TRUE(c.routes.is_array());
  EXPECT_TRUE(c.routes.empty());
  EXPECT_EQ(c.route(), "h1-0");
}

TEST(ConfigTest, EveryFieldIsRead) {
  auto r = parse_config(R"({"host":"web_2","worker":7,"listen":"127.0.0.1:9000","peer_listen":"10.0.0.5:9{worker}1",
    "acceptor_threads":4,
    "max_acceptor_threads":40,"session_threads":3,"idle_timeout_s":60,"lifetime_s":600,"max_body_bytes":0,"keepalive_idle_s":5,
    "drain_timeout_s":2,"request_timeout_s":9,"key_file":"/abs/keys","routes":[{"match":"^/"}]})",
                        kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->host, "web_2");
  EXPECT_EQ(r->worker, 7);
  EXPECT_EQ(r->listen, "127.0.0.1:9000");
  EXPECT_EQ(r->peer_listen, "10.0.0.5:971");
  EXPECT_EQ(r->advertise, "10.0.0.5:971");  // peers reach the peer listener
  EXPECT_EQ(r->acceptor_threads, 4);
  EXPECT_EQ(r->max_acceptor_threads, 40);
  EXPECT_EQ(r->session_threads, 3);
  EXPECT_EQ(r->idle_timeout_s, 60);
  EXPECT_EQ(r->lifetime_s, 600);
  EXPECT_EQ(r->max_body_bytes, 0);
  EXPECT_EQ(r->keepalive_idle_s, 5);
  EXPECT_EQ(r->drain_timeout_s, 2);
  EXPECT_EQ(r->request_timeout_s, 9);
  EXPECT_EQ(r->key_file, "/abs/keys");  // absolute: kept
  EXPECT_EQ(r->routes.size(), 1u);
  EXPECT_EQ(r->route(), "web_2-7");
}

TEST(ConfigTest, WorkerIsSubstitutedEverywhereInListen) {
  auto r = parse_config(R"({"worker":12,"listen":"unix:/run/{worker}/w{worker}.sock","key_file":"k"})", kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->listen, "unix:/run/12/w12.sock");
}

TEST(ConfigTest, KeyFileResolvedAgainstTheConfigDirectory) {
  auto rel = parse_config(kMinimal, "tether.json");
  ASSERT_TRUE(rel) << rel.message();
  EXPECT_EQ(rel->key_file, "./k");
  auto root = parse_config(kMinimal, "/tether.json");
  ASSERT_TRUE(root) << root.message();
  EXPECT_EQ(root->base_dir, "/");
  auto nested = parse_config(kMinimal, "conf/dev/tether.json");
  ASSERT_TRUE(nested) << nested.message();
  EXPECT_EQ(nested->key_file, "conf/dev/k");
  EXPECT_EQ(resolve_path(nested.value(), "static"), "conf/dev/static");
  EXPECT_EQ(resolve_path(nested.value(), "/srv/static"), "/srv/static");
}

// Regression: resolve_path once joined base_dir "/" and "k" into "//k".
TEST(ConfigTest, KeyFileOfAConfigInTheRootDirectoryHasOneSlash) {
  auto root = parse_config(kMinimal, "/tether.json");
  ASSERT_TRUE(root) << root.message();
  EXPECT_EQ(root->key_file, "/k");
}

TEST(ConfigTest, BadJsonRefused) {
  expect_error("{", {"not valid JSON"});
  expect_error(R"({"listen": "unix:/x",})", {"not valid JSON"});
  expect_error("", {"not valid JSON"});
}

// A number too large for a double made the error path throw out_of_range,
// which nothing caught: tetherd aborted instead of naming the problem
// (found by tests/fuzz/config_fuzz).
TEST(ConfigTest, NumberOverflowIsAnErrorNotAnAbort) {
  expect_error(R"({"listen": "unix:/x", "key_file": "k", "worker": 1e999})", {"not valid JSON", "number overflow"});
  expect_error("2e444", {"not valid JSON"});
}

TEST(ConfigTest, TopLevelMustBeAnObject) {
  expect_error("[]", {"object"});
  expect_error(R"("listen")", {"object"});
}

TEST(ConfigTest, UnknownFieldRefused) { expect_error(with(R"("session_thread": 2)"), {"session_thread", "unknown"}); }

TEST(ConfigTest, WrongTypeRefused) {
  expect_error(with(R"("session_threads": "2")"), {"session_threads"});
  expect_error(with(R"("session_threads": 2.5)"), {"session_threads"});
  expect_error(with(R"("host": 5)"), {"host"});
  expect_error(R"({"listen": 9000, "key_file": "k"})", {"listen"});
  expect_error(R"({"listen": "unix:/x.sock", "key_file": ["k"]})", {"key_file"});
}

TEST(ConfigTest, OutOfRangeRefused) {
  expect_error(with(R"("session_threads": 0)"), {"session_threads"});
  expect_error(with(R"("session_threads": 1000)"), {"session_threads"});
  expect_error(with(R"("worker": -1)"), {"worker"});
  expect_error(with(R"("worker": 65536)"), {"worker"});
  expect_error(with(R"("acceptor_threads": 0)"), {"acceptor_threads"});
  expect_error(with(R"("max_acceptor_threads": 0)"), {"max_acceptor_threads"});
  expect_error(with(R"("max_acceptor_threads": 65537)"), {"max_acceptor_threads"});
  expect_error(with(R"("max_body_bytes": -1)"), {"max_body_bytes"});
  expect_error(with(R"("idle_timeout_s": 0)"), {"idle_timeout_s"});
  // The bounds themselves are accepted.
  EXPECT_TRUE(parse_config(with(R"("session_threads": 256, "worker": 65535)"), kPath));
  EXPECT_TRUE(parse_config(with(R"("session_threads": 1)"), kPath));
}

TEST(ConfigTest, BadHostRefused) {
  expect_error(with(R"("host": "a b")"), {"host", "a b"});
  expect_error(with(R"("host": "")"), {"host"});
  expect_error(with(R"("host": "a-b")"), {"host"});  // '-' separates host and worker in routes
  expect_error(with(R"("host": ")" + std::string(33, 'a') + "\""), {"host"});
  EXPECT_TRUE(parse_config(with(R"("host": ")" + std::string(32, 'a') + "\""), kPath));
}

TEST(ConfigTest, ListenRequiredAndChecked) {
  expect_error(R"({"key_file": "k"})", {"listen", "required"});
  expect_error(R"({"listen": "", "key_file": "k"})", {"listen"});
  for (std::string bad : {"nonsense", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1", "1.2.3:80", "unix:",
                          "[::1]:80", "127.0.0.1:80x"}) {
    expect_error(R"({"listen": ")" + bad + R"(", "key_file": "k"})", {"listen"});
  }
  expect_error(R"({"listen": "unix:/)" + std::string(110, 'a') + R"(", "key_file": "k"})", {"listen"});
  for (std::string good : {"127.0.0.1:1", "127.0.0.1:65535", "localhost:9000"}) {
    auto r = parse_config(R"({"listen": ")" + good + R"(", "peer_listen": "10.1.2.3:7000", "key_file": "k"})", kPath);
    EXPECT_TRUE(r) << good << ": " << r.message();
  }
  EXPECT_TRUE(parse_config(R"({"listen": "unix:/a", "key_file": "k"})", kPath));
}

// libfcgi reads the nginx-facing listener and has bugs any FastCGI client
// can trigger (issue 17): it may face the network only when the operator
// says the network is trusted, and peers get a listener of their own.
TEST(ConfigTest, NginxListenerOnTheNetworkNeedsTheTrustedFlag) {
  expect_error(R"({"listen": "10.0.0.5:9000", "peer_listen": "10.0.0.5:9001", "key_file": "k"})",
               {"listen", "10.0.0.5:9000", "libfcgi", "listen_network_trusted"});
  expect_error(R"({"listen": "0.0.0.0:9000", "peer_listen": "10.0.0.5:9001", "key_file": "k"})", {"listen"});
  auto trusted = parse_config(R"({"listen": "10.0.0.5:9000", "peer_listen": "10.0.0.5:9001", "key_file": "k",
                                  "listen_network_trusted": true})", kPath);
  EXPECT_TRUE(trusted) << trusted.message();
  EXPECT_TRUE(parse_config(R"({"listen": "127.0.0.2:9000", "peer_listen": "0.0.0.0:9001", "key_file": "k"})", kPath));
}

TEST(ConfigTest, PeerListenerDefaultsBesideAUnixListenAndIsRequiredBesideTcp) {
  auto r = parse_config(R"({"listen": "unix:/run/t/w{worker}.sock", "worker": 3, "key_file": "k"})", kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->peer_listen, "unix:/run/t/w3.peer.sock");
  EXPECT_EQ(r->peer_listen_pattern, "unix:/run/t/w{worker}.peer.sock");
  EXPECT_EQ(r->advertise, "unix:/run/t/w3.peer.sock");
  expect_error(R"({"listen": "127.0.0.1:9000", "key_file": "k"})", {"peer_listen", "required"});
  expect_error(R"({"listen": "unix:/a.sock", "peer_listen": "unix:/a.sock", "key_file": "k"})",
               {"peer_listen", "must differ"});
  expect_error(R"({"listen": "unix:/a.sock", "peer_listen": "nowhere", "key_file": "k"})", {"peer_listen"});
}

TEST(ConfigTest, KeyFileRequired) {
  expect_error(R"({"listen": "unix:/x.sock"})", {"key_file", "required"});
  expect_error(R"({"listen": "unix:/x.sock", "key_file": ""})", {"key_file"});
}

TEST(ConfigTest, LifetimeShorterThanIdleTimeoutRefused) {
  expect_error(with(R"("idle_timeout_s": 100, "lifetime_s": 50)"), {"lifetime_s", "idle_timeout_s"});
  expect_error(with(R"("lifetime_s": 60)"), {"lifetime_s"});  // default idle timeout is 1800
  EXPECT_TRUE(parse_config(with(R"("idle_timeout_s": 100, "lifetime_s": 100)"), kPath));
}

TEST(ConfigTest, MaxAcceptorThreadsBelowAcceptorThreadsRefused) {
  expect_error(with(R"("acceptor_threads": 8, "max_acceptor_threads": 4)"),
               {"max_acceptor_threads", "acceptor_threads"});
  EXPECT_TRUE(parse_config(with(R"("acceptor_threads": 8, "max_acceptor_threads": 8)"), kPath));
}

TEST(ConfigTest, RoutesMustBeAnArray) {
  expect_error(with(R"("routes": {"match": "^/"})"), {"routes"});
  expect_error(with(R"("routes": "^/")"), {"routes"});
}

TEST(ConfigTest, ComponentSectionsAreKeptForTheirComponents) {
  auto r = parse_config(with(R"("cache": {"max_bytes": 5}, "journal": {"dir": "j"}, "workflows": {})"), kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r.value().cache["max_bytes"], 5);
  EXPECT_EQ(r.value().journal["dir"], "j");
  EXPECT_TRUE(r.value().workflows.is_object());
  EXPECT_TRUE(parse_config(kMinimal, kPath).value().journal.is_null());
  expect_error(with(R"("journal": [1])"), {"journal", "expected an object"});
  expect_error(with(R"("cache": 3)"), {"cache", "expected an object"});
}

TEST(ConfigTest, OverridesWinOverTheFile) {
  std::string text = R"({"host":"file","worker":1,"listen":"unix:/f/w{worker}.sock","key_file":"k"})";
  ConfigOverrides ov;
  ov.host = "flag";
  ov.worker = 5;
  ov.listen = "unix:/o/{worker}.sock";
  auto r = parse_config(text, kPath, ov);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->host, "flag");
  EXPECT_EQ(r->worker, 5);
  EXPECT_EQ(r->listen, "unix:/o/5.sock");
  EXPECT_EQ(r->route(), "flag-5");

  ConfigOverrides worker_only;
  worker_only.worker = 9;
  auto w = parse_config(text, kPath, worker_only);
  ASSERT_TRUE(w) << w.message();
  EXPECT_EQ(w->host, "file");
  EXPECT_EQ(w->listen, "unix:/f/w9.sock");

  ConfigOverrides none;
  auto n = parse_config(text, kPath, none);
  ASSERT_TRUE(n) << n.message();
  EXPECT_EQ(n->worker, 1);
  EXPECT_EQ(n->listen, "unix:/f/w1.sock");
}

TEST(ConfigTest, OverridesAreValidatedToo) {
  ConfigOverrides bad_host;
  bad_host.host = "x y";
  expect_error(kMinimal, {"host"}, bad_host);
  ConfigOverrides bad_listen;
  bad_listen.listen = "nowhere";
  expect_error(kMinimal, {"listen"}, bad_listen);
  // An override supplies a field the file leaves out.
  ConfigOverrides listen;
  listen.listen = "127.0.0.1:9001";
  listen.peer_listen = "127.0.0.1:9002";
  auto r = parse_config(R"({"key_file":"k"})", kPath, listen);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->listen, "127.0.0.1:9001");
  EXPECT_EQ(r->peer_listen, "127.0.0.1:9002");
  EXPECT_EQ(r->peer_listen_pattern, "");  // a flag names one worker's address only
}

TEST(ConfigTest, LoadConfigOfMissingFileNamesThePath) {
  std::string path = "/nonexistent/dir/tether.json";
  auto r = load_config(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find(path), std::string::npos) << r.message();
}

TEST(ConfigTest, LoadConfigReadsTheFile) {
  char tmpl[] = "/tmp/tether_config_test.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string path = dir + "/tether.json";
  std::ofstream(path) << with(R"("host": "disk")");
  std::ofstream(dir + "/bad.json") << "{";
  ConfigOverrides ov;
  ov.worker = 2;
  auto r = load_config(path, ov);
  auto bad = load_config(dir + "/bad.json");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->file, path);
  EXPECT_EQ(r->base_dir, dir);
  EXPECT_EQ(r->host, "disk");
  EXPECT_EQ(r->listen, "unix:/tmp/x/w2.sock");
  EXPECT_EQ(r->key_file, dir + "/k");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find(dir + "/bad.json"), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("not valid JSON"), std::string::npos) << bad.message();
}

TEST(ConfigTest, BoundsHaveSaneDefaults) {
  auto r = parse_config(kMinimal, kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->max_sessions, 100000);
  EXPECT_EQ(r->max_queued_per_session, 32);
  EXPECT_EQ(r->max_params_bytes, 64 * 1024);
}

TEST(ConfigTest, BoundsAreRead) {
  auto r = parse_config(with(R"("max_sessions": 3, "max_queued_per_session": 2, "max_params_bytes": 4096)"), kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->max_sessions, 3);
  EXPECT_EQ(r->max_queued_per_session, 2);
  EXPECT_EQ(r->max_params_bytes, 4096);
}

TEST(ConfigTest, BoundsOutOfRangeOrMistypedRefused) {
  expect_error(with(R"("max_sessions": 0)"), {"max_sessions", "from 1 to 100000000"});
  expect_error(with(R"("max_sessions": -5)"), {"max_sessions"});
  expect_error(with(R"("max_sessions": 100000001)"), {"max_sessions"});
  expect_error(with(R"("max_sessions": "3")"), {"max_sessions"});
  expect_error(with(R"("max_sessions": 18446744073709551615)"), {"max_sessions"});
  expect_error(with(R"("max_queued_per_session": 0)"), {"max_queued_per_session", "from 1 to 100000"});
  expect_error(with(R"("max_queued_per_session": 2.5)"), {"max_queued_per_session"});
  expect_error(with(R"("max_queued_per_session": 100001)"), {"max_queued_per_session"});
  expect_error(with(R"("max_params_bytes": 1023)"), {"max_params_bytes", "from 1024 to 16777216"});
  expect_error(with(R"("max_params_bytes": 16777217)"), {"max_params_bytes"});
  expect_error(with(R"("max_params_bytes": null)"), {"max_params_bytes"});
  expect_error(with(R"("max_session": 3)"), {"max_session", "unknown"});
}

TEST(ConfigTest, CookieNameAndPathDefaultAndAreRead) {
  auto d = parse_config(kMinimal, kPath);
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->cookie_name, "tether_sid");
  EXPECT_EQ(d->cookie_path, "/");
  auto r = parse_config(with(R"("cookie_name": "shop_sid", "cookie_path": "/shop/")"), kPath);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->cookie_name, "shop_sid");
  EXPECT_EQ(r->cookie_path, "/shop/");
}

TEST(ConfigTest, BadCookieNameOrPathRefused) {
  for (const char* bad : {R"("")", R"("a b")", R"("a=b")", R"("a;b")", R"("sid-x")", R"("\u00e9")", "3", "null"}) {
    expect_error(with(std::string(R"("cookie_name": )") + bad), {"cookie_name"});
  }
  expect_error(with(R"("cookie_name": ")" + std::string(65, 'a') + "\""), {"cookie_name", "1 to 64"});
  for (const char* bad : {R"("")", R"("shop")", R"("/a;Domain=evil")", R"("/a b")", R"("/a,b")", R"("/a\r\nX: y")",
                          R"("/\u00e9")", "[]"}) {
    expect_error(with(std::string(R"("cookie_path": )") + bad), {"cookie_path"});
  }
  expect_error(with(R"("cookie_path": "/)" + std::string(256, 'a') + "\""), {"cookie_path"});
}

}  // namespace
}  // namespace tether
