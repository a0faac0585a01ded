// Hostile journal values read back from Redis and disk (src/journal/store,
// src/journal/files): a list entry nested 300,000 deep or not an entry at
// all is an error for that entry, counted, never a crash; a checkpoint file
// nested deep is "damaged".
#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/firewall.h"
#include "journal/files.h"
#include "journal/store.h"
#include "support/redis_server.h"

namespace tether {
namespace {

TEST(RegistryJournalTest, HostileListEntriesAreErrorsForThatEntry) {
  ASSERT_GE(sodium_init(), 0);
  test_support::RedisServer server;
  ASSERT_TRUE(server.start());
  RedisOptions o;
  o.port = server.port();
  o.prefix = "t:journal:";
  Redis redis(o);
  std::string list = journal::list_key(o.prefix, "d");
  std::string nested = std::string(300000, '[') + std::string(300000, ']');
  const std::string entries[] = {nested, "{\"src\":\"\xff\"}", "not json", "{\"src\":5}"};
  int i = 0;
  for (const auto& e : entries) {
    std::string member = "001|000000000000000" + std::to_string(i++) + "|x";
    ASSERT_TRUE(redis.command({"ZADD", list, "1", member}));
    ASSERT_TRUE(redis.command({"HSET", list + ":entries", member, e}));
  }
  uint64_t before = firewall::refused_count("journal.bad_entry");
  auto taken = journal::take(redis, "d", 10, 1000);
  ASSERT_TRUE(taken) << taken.message();
  ASSERT_EQ(taken->size(), 4u);
  for (const auto& t : *taken) EXPECT_FALSE(t.entry) << t.member;
  EXPECT_NE((*taken)[0].entry.message().find("nested deeper"), std::string::npos) << (*taken)[0].entry.message();
  EXPECT_EQ(firewall::refused_count("journal.bad_entry") - before, 4u);
}

TEST(RegistryJournalTest, ADeepCheckpointIsDamagedNotACrash) {
  char tmpl[] = "/tmp/tether-cp-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  for (const std::string& text : {std::string(300000, '[') + std::string(300000, ']'),
                                  std::string("{\"file\":5,\"offset\":1}"), std::string("{\"file\":\"\xff\"}")}) {
    std::ofstream(dir + "/checkpoint") << text;
    auto c = journal::load_checkpoint(dir);
    EXPECT_FALSE(c) << text.substr(0, 40);
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tether
