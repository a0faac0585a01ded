// Tests Services (src/worker/services): parts start in order, stop in
// reverse, a failed start stops only what started, stop runs once, and the
// destructor stops what is still running.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "worker/services.h"

namespace tether {
namespace {

struct Trail {
  std::vector<std::string> events;
  void part(Services& s, const std::string& name, bool fails = false) {
    s.add(
        name,
        [this, name, fails]() -> Status {
          events.push_back("start " + name);
          return fails ? Status::error("no port") : Status::ok();
        },
        [this, name] { events.push_back("stop " + name); });
  }
};

TEST(ServicesTest, StartsInOrderAndStopsInReverse) {
  Trail t;
  Services s;
  t.part(s, "registry");
  t.part(s, "sessions");
  s.add("fcgi", [&t] { t.events.push_back("start fcgi"); }, [&t] { t.events.push_back("stop fcgi"); });
  ASSERT_TRUE(s.start());
  EXPECT_EQ(s.running(), (std::vector<std::string>{"registry", "sessions", "fcgi"}));
  s.stop();
  s.stop();  // once only
  EXPECT_EQ(t.events, (std::vector<std::string>{"start registry", "start sessions", "start fcgi", "stop fcgi",
                                                "stop sessions", "stop registry"}));
  EXPECT_TRUE(s.running().empty());
}

TEST(ServicesTest, AFailedStartStopsWhatStartedInReverseAndNamesThePart) {
  Trail t;
  Services s;
  t.part(s, "registry");
  t.part(s, "sessions");
  t.part(s, "fcgi", true);
  t.part(s, "never");
  Status st = s.start();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.message(), "fcgi: no port");
  EXPECT_EQ(t.events, (std::vector<std::string>{"start registry", "start sessions", "start fcgi", "stop sessions",
                                                "stop registry"}));
  EXPECT_TRUE(s.running().empty());
}

TEST(ServicesTest, TheDestructorStopsWhatIsRunning) {
  Trail t;
  {
    Services s;
    t.part(s, "a");
    t.part(s, "b");
    ASSERT_TRUE(s.start());
  }
  EXPECT_EQ(t.events, (std::vector<std::string>{"start a", "start b", "stop b", "stop a"}));
}

}  // namespace
}  // namespace tether
