// OpsGate (ops/ops_gate.h): the Host names it reads, the specs it takes and
// refuses, and each check on its own: forwarded, address, Host, Origin,
// Sec-Fetch-Site; every refusal a 403 that is counted.
#include <gtest/gtest.h>

#include "cluster/forwarded.h"
#include "common/firewall.h"
#include "ops/ops_gate.h"

namespace tether {
namespace {

using nlohmann::json;

OpsGate gate(const json& spec = json::object()) {
  auto g = OpsGate::parse(spec);
  if (!g) throw std::runtime_error(g.message());
  return std::move(g.value());
}

Request request(std::map<std::string, std::string> headers = {}, std::string remote = "127.0.0.1") {
  Request r;
  r.method = "POST";
  r.path = "/tether/admin/drain";
  r.remote_addr = std::move(remote);
  r.headers = std::move(headers);
  return r;
}

TEST(OpsGateTest, HostNamesLoseThePortAndTheCase) {
  EXPECT_EQ(host_name("localhost"), "localhost");
  EXPECT_EQ(host_name("LocalHost:8080"), "localhost");
  EXPECT_EQ(host_name("127.0.0.1:80"), "127.0.0.1");
  EXPECT_EQ(host_name("[::1]"), "::1");
  EXPECT_EQ(host_name("[::1]:8080"), "::1");
  EXPECT_EQ(host_name("::1"), "::1");
  EXPECT_EQ(host_name("Ops.Example.COM"), "ops.example.com");
  for (const char* bad : {"", ":80", "a:", "a:123456", "a:8x", "[::1", "[]", "[::1]x", "[::1]:", "a b", "a/b",
                          "a@b", "a\xff", "localhost\r\n"}) {
    EXPECT_FALSE(host_name(bad)) << bad;
  }
  EXPECT_FALSE(host_name(std::string(256, 'a')));
}

TEST(OpsGateTest, SpecsTakenAndRefused) {
  OpsGate g = gate();
  EXPECT_EQ(g.allow, (std::set<std::string>{"127.0.0.1", "::1"}));
  EXPECT_EQ(g.hosts, (std::set<std::string>{"localhost", "127.0.0.1", "::1"}));
  g = gate(json::parse(R"({"allow": ["10.0.0.5"], "hosts": ["Ops.Example.com", "[fd00::1]"]})"));
  EXPECT_TRUE(g.allow.count("10.0.0.5"));
  EXPECT_TRUE(g.hosts.count("ops.example.com"));
  EXPECT_TRUE(g.hosts.count("fd00::1"));
  EXPECT_TRUE(g.hosts.count("localhost"));  // loopback names always
  for (const char* bad : {R"([])", R"({"host": ["a"]})", R"({"hosts": "a"})", R"({"hosts": [1]})",
                          R"({"hosts": ["a:8080"]})", R"({"hosts": ["[::1]:80"]})", R"({"hosts": [""]})",
                          R"({"hosts": ["a b"]})", R"({"allow": "127.0.0.1"})", R"({"allow": [1]})"}) {
    EXPECT_FALSE(OpsGate::parse(json::parse(bad))) << bad;
  }
}

TEST(OpsGateTest, LoopbackHostsAndNoHostPass) {
  OpsGate g = gate();
  RouteMatch m;
  for (const char* host : {"localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "LOCALHOST"}) {
    EXPECT_FALSE(g.check("admin", request({{"host", host}}), m)) << host;
  }
  EXPECT_FALSE(g.check("admin", request(), m));  // no Host: no browser sent it
}

TEST(OpsGateTest, AForeignHostIsRefusedAndCounted) {
  OpsGate g = gate();
  RouteMatch m;
  uint64_t before = firewall::refused_count("admin.bad_host");
  for (const char* host : {"attacker.example", "attacker.example:8080", "127.0.0.1.attacker.example", "localhost.",
                           "a b", "\xff\xfe"}) {
    auto r = g.check("admin", request({{"host", host}}), m);
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 403);
    EXPECT_NE(r->body.find("\"hosts\""), std::string::npos) << r->body;
  }
  EXPECT_EQ(firewall::refused_count("admin.bad_host") - before, 6u);
  // A name the operator added passes.
  EXPECT_FALSE(gate(json::parse(R"({"hosts": ["ops.example.com"]})"))
                   .check("admin", request({{"host", "ops.example.com:443"}}), m));
}

TEST(OpsGateTest, AnAddressOutsideTheAllowListIsRefused) {
  RouteMatch m;
  auto r = gate().check("status", request({{"host", "localhost"}}, "10.1.2.3"), m);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_FALSE(gate(json::parse(R"({"allow": ["10.1.2.3"]})"))
                   .check("status", request({{"host", "localhost"}}, "10.1.2.3"), m));
}

TEST(OpsGateTest, APeersForwardedRequestIsRefusedAndCounted) {
  Forwarded from{"h2-0", ""};
  RouteMatch m;
  m.forwarded = &from;
  uint64_t before = firewall::refused_count("status.forwarded");
  auto r = gate().check("status", request({{"host", "localhost"}}), m);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(firewall::refused_count("status.forwarded") - before, 1u);
}

TEST(OpsGateTest, SameOriginPasses) {
  OpsGate g = gate();
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "127.0.0.1:8080"}})));  // neither header: not a browser
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "127.0.0.1:8080"}, {"origin", "http://127.0.0.1:8080"}})));
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "localhost"}, {"origin", "https://LOCALHOST"},
                                               {"sec-fetch-site", "same-origin"}})));
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "localhost"}, {"sec-fetch-site", "none"}})));
  // Debian's fastcgi_params pass nginx's $host, without the port: the names are compared.
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "127.0.0.1"}, {"origin", "http://127.0.0.1:8080"}})));
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "[::1]:8080"}, {"origin", "http://[::1]:8080"}})));
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "localhost:80"}, {"origin", "http://localhost"}})));
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "localhost:443"}, {"origin", "https://localhost"}})));
}

TEST(OpsGateTest, ACrossSiteOriginIsRefusedAndCounted) {
  OpsGate g = gate(json::parse(R"({"hosts": ["ops.example.com"]})"));
  uint64_t before = firewall::refused_count("admin.cross_site");
  std::vector<std::pair<std::string, std::string>> bad = {
      {"127.0.0.1:8080", "http://attacker.example"},
      {"127.0.0.1:8080", "http://127.0.0.1:9999"},      // another port: another origin
      {"127.0.0.1:8080", "null"},                       // sandboxed frame, file:, data:
      {"127.0.0.1:8080", "ftp://127.0.0.1:8080"},
      {"127.0.0.1:8080", "http://127.0.0.1:8080/x"},
      {"attacker.example", "http://attacker.example"},  // same origin, but not an allowed host
      {"", "http://localhost"},                         // an Origin with no Host to match
      {"localhost", "http://"},
      {"localhost:8080", "http://localhost"},           // port 80 is not the Host's 8080
      {"localhost", "http://127.0.0.1"},                // another name
      {"localhost", "http://localhost\xff"}};
  for (const auto& [host, origin] : bad) {
    std::map<std::string, std::string> h = {{"origin", origin}};
    if (!host.empty()) h["host"] = host;
    auto r = g.same_origin("admin", request(h));
    ASSERT_TRUE(r) << host << " " << origin;
    EXPECT_EQ(r->status, 403);
  }
  EXPECT_EQ(firewall::refused_count("admin.cross_site") - before, bad.size());
  EXPECT_FALSE(g.same_origin("admin", request({{"host", "ops.example.com"}, {"origin", "https://ops.example.com"}})));
}

TEST(OpsGateTest, ACrossSiteFetchIsRefusedAndCounted) {
  OpsGate g = gate();
  uint64_t before = firewall::refused_count("admin.cross_site");
  for (const char* site : {"cross-site", "same-site", "x"}) {
    auto r = g.same_origin("admin", request({{"host", "localhost"}, {"sec-fetch-site", site}}));
    ASSERT_TRUE(r) << site;
    EXPECT_EQ(r->status, 403);
  }
  // Same-origin Origin does not excuse a cross-site Sec-Fetch-Site.
  EXPECT_TRUE(g.same_origin("admin", request({{"host", "localhost"}, {"origin", "http://localhost"},
                                              {"sec-fetch-site", "cross-site"}})));
  EXPECT_EQ(firewall::refused_count("admin.cross_site") - before, 4u);
}

}  // namespace
}  // namespace tether
