// The one command-line parser (src/common/flags.h): strict values, unknown
// options refused, stop words, and tetherctl/tetherd's own use of it.
#include "common/flags.h"

#include <gtest/gtest.h>

namespace tether {
namespace {

struct Parsed {
  bool json = false;
  std::string config;
  std::vector<std::string> groups;
  int64_t limit = 100;
  std::vector<std::string> positional;
  Status status = Status::ok();
};

Parsed parse(std::vector<std::string> args) {
  Parsed p;
  Flags f("tetherctl");
  f.flag("--json", &p.json).text("--config", &p.config).texts("--group", &p.groups);
  f.integer("--limit", 0, 1000, &p.limit).stop_at("journal");
  p.status = f.parse(args, &p.positional);
  return p;
}

TEST(FlagsTest, OptionsAndPositionalsInAnyOrder) {
  Parsed p = parse({"sessions", "--json", "--limit", "5", "--config=/etc/t.json", "--group", "a", "--group", "b"});
  ASSERT_TRUE(p.status) << p.status.message();
  EXPECT_TRUE(p.json);
  EXPECT_EQ(p.limit, 5);
  EXPECT_EQ(p.config, "/etc/t.json");
  EXPECT_EQ(p.groups, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(p.positional, (std::vector<std::string>{"sessions"}));
}

// `tetherctl --limit abc` used to list 0 sessions without a word.
TEST(FlagsTest, AValueThatDoesNotParseIsRefusedNamingTheOption) {
  for (const char* bad : {"abc", "5x", "", " 5", "+5", "-1", "1001", "99999999999999999999999"}) {
    Parsed p = parse({"sessions", "--limit", bad});
    ASSERT_FALSE(p.status) << bad;
    EXPECT_NE(p.status.message().find("tetherctl: --limit: expected a whole number from 0 to 1000"), std::string::npos)
        << p.status.message();
    EXPECT_EQ(p.limit, 100) << "nothing is guessed";
  }
}

TEST(FlagsTest, UnknownOptionsMissingValuesAndValuesOnFlagsAreRefused) {
  EXPECT_NE(parse({"--jsn"}).status.message().find("unknown option --jsn"), std::string::npos);
  EXPECT_NE(parse({"--limit"}).status.message().find("--limit: needs a value"), std::string::npos);
  EXPECT_NE(parse({"--json=yes"}).status.message().find("--json: takes no value"), std::string::npos);
}

TEST(FlagsTest, AStopWordOrDoubleDashPassesTheRestAsItIs) {
  Parsed p = parse({"--json", "journal", "consume", "--domain", "d", "--limit", "x"});
  ASSERT_TRUE(p.status) << p.status.message();
  EXPECT_EQ(p.positional, (std::vector<std::string>{"journal", "consume", "--domain", "d", "--limit", "x"}));
  p = parse({"kill", "--", "--odd-id"});
  ASSERT_TRUE(p.status) << p.status.message();
  EXPECT_EQ(p.positional, (std::vector<std::string>{"kill", "--odd-id"}));
  // A stop word later than the first positional is just a word.
  p = parse({"session", "journal"});
  ASSERT_TRUE(p.status);
  EXPECT_EQ(p.positional, (std::vector<std::string>{"session", "journal"}));
}

TEST(FlagsTest, ParseIntegerIsWholeAndBounded) {
  EXPECT_EQ(*parse_integer("0", 0, 10), 0);
  EXPECT_EQ(*parse_integer("-3", -5, 10), -3);
  EXPECT_EQ(*parse_integer("9223372036854775807", 0, INT64_MAX), INT64_MAX);
  EXPECT_FALSE(parse_integer("9223372036854775808", 0, INT64_MAX));
  EXPECT_FALSE(parse_integer("0x10", 0, 100));
  EXPECT_FALSE(parse_integer("1e3", 0, 10000));
}

}  // namespace
}  // namespace tether
