// Tests the session cookie's options in tether.json (src/config): cookie_secure,
// cookie_samesite, cookie_host_prefix: defaults, what is read, and the
// combinations refused because a browser would drop such a cookie.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "config/config.h"

namespace tether {
namespace {

const std::string kPath = "/etc/tether/tether.json";
const std::string kBase = R"({"listen":"unix:/tmp/x/w{worker}.sock","key_file":"k")";

Result<Config> parse(const std::string& fields) {
  return parse_config(kBase + (fields.empty() ? "" : "," + fields) + "}", kPath);
}

// Expects parse(fields) to fail with a message naming kPath and every one of parts.
void expect_refused(const std::string& fields, std::initializer_list<std::string> parts) {
  auto r = parse(fields);
  ASSERT_FALSE(r) << "accepted: " << fields;
  EXPECT_EQ(r.message().rfind(kPath, 0), 0u) << r.message();
  for (const auto& p : parts) EXPECT_NE(r.message().find(p), std::string::npos) << "'" << p << "' not in: " << r.message();
}

TEST(CookieOptionsTest, DefaultsAreAutoLaxAndNoPrefix) {
  auto c = parse("");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->cookie_secure, "auto");
  EXPECT_EQ(c->cookie_samesite, "Lax");
  EXPECT_FALSE(c->cookie_host_prefix);
  EXPECT_EQ(c->session_cookie(), "tether_sid");
}

TEST(CookieOptionsTest, EachOptionIsRead) {
  auto c = parse(R"("cookie_secure":"always","cookie_samesite":"Strict")");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->cookie_secure, "always");
  EXPECT_EQ(c->cookie_samesite, "Strict");
  c = parse(R"("cookie_secure":"always","cookie_samesite":"None","cookie_host_prefix":true,"cookie_name":"shop")");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->cookie_samesite, "None");
  EXPECT_TRUE(c->cookie_host_prefix);
  EXPECT_EQ(c->cookie_name, "shop");
  EXPECT_EQ(c->session_cookie(), "__Host-shop");
  c = parse(R"("cookie_host_prefix":false,"cookie_path":"/shop/")");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->session_cookie(), "tether_sid");
}

TEST(CookieOptionsTest, UnknownOrMistypedValuesAreRefused) {
  for (const char* bad : {R"("yes")", R"("Always")", R"("")", "true", "1", "null"}) {
    expect_refused(std::string(R"("cookie_secure":)") + bad, {"cookie_secure", "auto"});
  }
  for (const char* bad : {R"("lax")", R"("none")", R"("Lax; Domain=evil")", R"("")", "0", "[]"}) {
    expect_refused(std::string(R"("cookie_samesite":)") + bad, {"cookie_samesite", "Strict"});
  }
  for (const char* bad : {R"("true")", "1", "null"}) {
    expect_refused(std::string(R"("cookie_host_prefix":)") + bad, {"cookie_host_prefix"});
  }
}

TEST(CookieOptionsTest, SameSiteNoneNeedsSecureAlways) {
  expect_refused(R"("cookie_samesite":"None")", {"cookie_samesite", "None", "cookie_secure", "always", "\"auto\""});
  expect_refused(R"("cookie_samesite":"None","cookie_secure":"auto")", {"cookie_samesite", "cookie_secure"});
}

TEST(CookieOptionsTest, HostPrefixNeedsSecureAlwaysAndPathRoot) {
  expect_refused(R"("cookie_host_prefix":true)", {"cookie_host_prefix", "cookie_secure", "always"});
  expect_refused(R"("cookie_host_prefix":true,"cookie_secure":"always","cookie_path":"/shop/")",
                 {"cookie_host_prefix", "cookie_path", "\"/shop/\""});
}

}  // namespace
}  // namespace tether
