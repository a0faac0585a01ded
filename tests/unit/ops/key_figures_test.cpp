// Tests the "keys" status section (ops/key_figures.h): what a worker writes
// (ids only, never key bytes), the decoder that tetherctl keys runs on
// figures read from Redis (every refusal counted as
// heartbeat.bad_key_figures), and the cross-worker check.
#include <gtest/gtest.h>
#include <sodium.h>

#include "common/firewall.h"
#include "common/json.h"
#include "ops/key_figures.h"
#include "registry/figures.h"
#include "support/own_status.h"

namespace tether {
namespace {

using nlohmann::json;

std::array<uint8_t, kTokenKeyBytes> random_key() {
  std::array<uint8_t, kTokenKeyBytes> b;
  randombytes_buf(b.data(), b.size());
  return b;
}

class KeyFiguresTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(KeyFiguresTest, SectionNamesTheSealingKeyThenTheOthersByIdOnly) {
  auto a = random_key(), b = random_key();
  while (TokenKey(b.data()).id() == TokenKey(a.data()).id()) b = random_key();
  // a verify-only and listed first: b seals.
  auto set = KeySet::make({TokenKey(a.data(), true), TokenKey(b.data())});
  ASSERT_TRUE(set) << set.message();
  json k = key_figures(*set.value());
  EXPECT_EQ(k["sealing"], TokenKey(b.data()).id_hex());
  EXPECT_EQ(k["others"], json::array({TokenKey(a.data()).id_hex()}));
  // No key bytes in any form.
  std::string text = k.dump();
  char hex[2 * kTokenKeyBytes + 1];
  sodium_bin2hex(hex, sizeof hex, a.data(), a.size());
  EXPECT_EQ(text.find(std::string(hex, 8)), std::string::npos);
  // It decodes back, also inside a worker's status figures as another
  // worker or tetherctl reads them from the heartbeat.
  test_support::OwnStatus own(1);
  own.sections["keys"] = [&] { return k; };
  auto f = registry::Figures::own(own.json());
  ASSERT_TRUE(f) << f.message();
  auto back = registry::Figures::decode(f->json().dump(), "h1", 1);
  ASSERT_TRUE(back) << back.message();
  auto held = decode_key_figures(back->json());
  ASSERT_TRUE(held) << held.message();
  ASSERT_TRUE(held->has_value());
  EXPECT_EQ((*held)->sealing, TokenKey(b.data()).id_hex());
  EXPECT_EQ((*held)->others, std::vector<std::string>{TokenKey(a.data()).id_hex()});
}

TEST_F(KeyFiguresTest, NoSectionIsNotKnownButNotRefused) {
  uint64_t before = firewall::refused_count(kBadKeyFigures);
  WorkerKeys w = read_worker_keys(json{{"host", "h1"}, {"worker", 0}}, "h1-0");
  EXPECT_FALSE(w.held);
  EXPECT_NE(w.unknown.find("no keys reported"), std::string::npos);
  EXPECT_EQ(firewall::refused_count(kBadKeyFigures), before);
}

TEST_F(KeyFiguresTest, HostileSectionsAreRefusedAndCounted) {
  json many = json::array();
  for (int i = 0; i < 256; ++i) many.push_back("00");
  std::vector<json> bad = {
      json("3f"),
      json::array({"3f"}),
      json{{"others", json::array()}},
      json{{"sealing", 63}, {"others", json::array()}},
      json{{"sealing", "3F"}, {"others", json::array()}},
      json{{"sealing", "3"}, {"others", json::array()}},
      json{{"sealing", "3fa"}, {"others", json::array()}},
      json{{"sealing", "zz"}, {"others", json::array()}},
      json{{"sealing", "3f"}},
      json{{"sealing", "3f"}, {"others", "a1"}},
      json{{"sealing", "3f"}, {"others", json::array({1})}},
      json{{"sealing", "3f"}, {"others", json::array({"a1", "a1"})}},
      json{{"sealing", "3f"}, {"others", json::array({"3f"})}},
      json{{"sealing", "3f"}, {"others", json::array({json::array({"a1"})})}},
      json{{"sealing", "3f"}, {"others", json::array({"a1\n"})}},
      json{{"sealing", "3f"}, {"others", many}},
      json{{"sealing", nullptr}, {"others", json::array()}},
  };
  for (const auto& section : bad) {
    SCOPED_TRACE(section.dump());
    json figures{{"host", "h1"}, {"worker", 0}, {"keys", section}};
    EXPECT_FALSE(decode_key_figures(figures));
    uint64_t before = firewall::refused_count(kBadKeyFigures);
    WorkerKeys w = read_worker_keys(figures, "h1-0");
    EXPECT_FALSE(w.held);
    EXPECT_NE(w.unknown.find("bad keys figures"), std::string::npos) << w.unknown;
    EXPECT_EQ(firewall::refused_count(kBadKeyFigures), before + 1);
  }
  EXPECT_FALSE(decode_key_figures(json::array()));
  // The same section, well formed, passes.
  auto ok = decode_key_figures(json{{"keys", {{"sealing", "3f"}, {"others", json::array({"a1", "00"})}}}});
  ASSERT_TRUE(ok) << ok.message();
  EXPECT_TRUE(ok->has_value());
}

TEST_F(KeyFiguresTest, CheckFlagsDisagreementAndMissingSealingKeys) {
  KeyHolding old_only{"3f", {}}, step1{"3f", {"a1"}}, step2{"a1", {"3f"}}, new_only{"a1", {}};
  KeyCheck all_old = check_keys({{"h1-0", old_only}, {"h2-0", step1}});
  EXPECT_TRUE(all_old.ok());
  EXPECT_EQ(all_old.sealing_ids, std::vector<std::string>{"3f"});
  // Step 2 half done: they disagree, but each opens the other's tokens.
  KeyCheck half = check_keys({{"h1-0", step2}, {"h2-0", step1}});
  EXPECT_FALSE(half.agree());
  EXPECT_TRUE(half.missing.empty());
  EXPECT_EQ(half.sealing_ids, (std::vector<std::string>{"3f", "a1"}));
  // The new key made the sealing key before every worker had it: breaks.
  KeyCheck broken = check_keys({{"h1-0", new_only}, {"h2-0", old_only}, {"h2-1", step1}});
  EXPECT_FALSE(broken.ok());
  ASSERT_EQ(broken.missing.size(), 2u);
  EXPECT_EQ(broken.missing["h1-0"], std::vector<std::string>{"3f"});
  EXPECT_EQ(broken.missing["h2-0"], std::vector<std::string>{"a1"});
  // Dropping the old key while another worker still seals with it.
  KeyCheck early = check_keys({{"h1-0", new_only}, {"h2-0", step1}});
  EXPECT_EQ(early.missing["h1-0"], std::vector<std::string>{"3f"});
  EXPECT_TRUE(check_keys({}).ok());
}

}  // namespace
}  // namespace tether
