// Tests the unix socket's access settings: tether.json's listen_owner,
// listen_group, listen_mode (src/config) and open_listener applying them,
// creating a missing socket directory (src/fcgi/listener).
#include <gtest/gtest.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "config/config.h"
#include "fcgi/listener.h"

namespace tether {
namespace {

const std::string kBase = R"({"listen":"unix:/tmp/x/w{worker}.sock","key_file":"k")";

Result<Config> parse(const std::string& fields) {
  return parse_config(kBase + (fields.empty() ? "" : "," + fields) + "}", "/etc/tether/tether.json");
}

TEST(ListenOptionsTest, DefaultsAreThoseOfPhpFpm) {
  auto c = parse("");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen_owner, "");
  EXPECT_EQ(c->listen_group, "");
  EXPECT_EQ(c->listen_mode, 0660u);
}

TEST(ListenOptionsTest, ModeIsOctalText) {
  auto c = parse(R"("listen_mode":"0640","listen_owner":"tether","listen_group":"www-data")");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen_mode, 0640u);
  EXPECT_EQ(c->listen_owner, "tether");
  EXPECT_EQ(c->listen_group, "www-data");
  c = parse(R"("listen_mode":"660","listen_group":"33")");
  ASSERT_TRUE(c) << c.message();
  EXPECT_EQ(c->listen_mode, 0660u);
}

TEST(ListenOptionsTest, BadValuesAreRefusedNamingTheField) {
  for (const char* bad : {R"("listen_mode":660)", R"("listen_mode":"0668")", R"("listen_mode":"07777")",
                                 R"("listen_mode":"")"}) {
    auto c = parse(bad);
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.message().find("field 'listen_mode'"), std::string::npos) << c.message();
  }
  for (const char* bad : {R"("listen_group":"a b")", R"("listen_group":"../x")", R"("listen_group":7)"}) {
    auto c = parse(bad);
    ASSERT_FALSE(c) << bad;
    EXPECT_NE(c.message().find("field 'listen_group'"), std::string::npos) << c.message();
  }
  auto c = parse(R"("listen_owner":"-rf")");
  ASSERT_FALSE(c);
  EXPECT_NE(c.message().find("field 'listen_owner'"), std::string::npos) << c.message();
}

class ListenerAccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether-listen-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ListenerAccessTest, ModeAndGroupAreAppliedAndTheDirectoryIsCreated) {
  fcgi::ListenOptions o;
  o.mode = 0640;
  o.group = std::to_string(getegid());  // a group this process may give
  const std::string path = dir_ + "/run/tether/w0.sock";  // two missing levels
  auto fd = fcgi::open_listener("unix:" + path, o);
  ASSERT_TRUE(fd) << fd.message();
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  EXPECT_EQ(st.st_gid, getegid());
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  ::close(fd.value());
}

TEST_F(ListenerAccessTest, UnknownGroupFailsAndLeavesNoSocket) {
  fcgi::ListenOptions o;
  o.group = "no_such_group_tether";
  const std::string path = dir_ + "/w0.sock";
  auto fd = fcgi::open_listener("unix:" + path, o);
  ASSERT_FALSE(fd);
  EXPECT_NE(fd.message().find("listen_group: no group named \"no_such_group_tether\""), std::string::npos)
      << fd.message();
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST_F(ListenerAccessTest, DefaultStaysMode0660) {
  const std::string path = dir_ + "/w1.sock";
  auto fd = fcgi::open_listener("unix:" + path);
  ASSERT_TRUE(fd) << fd.message();
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  ::close(fd.value());
}

TEST_F(ListenerAccessTest, CheckNamesTheUserAndTheDirectory) {
  EXPECT_TRUE(fcgi::check_listener("unix:" + dir_ + "/w0.sock", {}));
  EXPECT_TRUE(fcgi::check_listener("unix:" + dir_ + "/a/b/w0.sock", {}));  // created at bind
  EXPECT_TRUE(fcgi::check_listener("127.0.0.1:9000", {}));
  fcgi::ListenOptions o;
  o.group = "no_such_group_tether";
  auto s = fcgi::check_listener("unix:" + dir_ + "/w0.sock", o);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("listen_group"), std::string::npos) << s.message();
  if (geteuid() == 0) return;  // root may write anywhere
  ::chmod(dir_.c_str(), 0500);
  s = fcgi::check_listener("unix:" + dir_ + "/w0.sock", {});
  ::chmod(dir_.c_str(), 0700);
  ASSERT_FALSE(s);
  EXPECT_NE(s.message().find("as user "), std::string::npos) << s.message();
}

TEST(RunningAsTest, NamesUidOfThisProcess) {
  EXPECT_NE(fcgi::running_as().find("(uid " + std::to_string(geteuid()) + ")"), std::string::npos);
}

}  // namespace
}  // namespace tether
