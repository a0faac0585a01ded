// Tests journal lines (src/journal/line) and the "journal" config section: round trip, checksum, bad input.
#include <gtest/gtest.h>

#include <string>

#include "journal/line.h"
#include "journal/options.h"

namespace tether::journal {
namespace {

Entry sample() {
  Entry e;
  e.src = "h1-0.1763845200123456";
  e.seq = 42;
  e.time_us = 1763845200999999;
  e.domain = "notes";
  e.uri = "/notes/\"quoted\"/é";
  e.priority = 7;
  e.key_start_date = 1763845201000000;
  e.fields = {{"by", "ann"}, {"n", 3}, {"nested", {{"a", {1, 2}}}}};
  return e;
}

TEST(JournalLine, RoundTrip) {
  Entry e = sample();
  std::string line = encode_line(e);
  ASSERT_EQ(line.back(), '\n');
  auto d = decode_line(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(d) << d.message();
  EXPECT_EQ(d->src, e.src);
  EXPECT_EQ(d->seq, e.seq);
  EXPECT_EQ(d->time_us, e.time_us);
  EXPECT_EQ(d->domain, e.domain);
  EXPECT_EQ(d->uri, e.uri);
  EXPECT_EQ(d->priority, e.priority);
  EXPECT_EQ(d->key_start_date, e.key_start_date);
  EXPECT_EQ(d->fields, e.fields);
  EXPECT_EQ(d->id(), "h1-0.1763845200123456.42");
  EXPECT_EQ(entry_json(*d), entry_json(e));
}

TEST(JournalLine, ChecksumCatchesEveryTruncation) {
  std::string line = encode_line(sample());
  std::string_view whole(line.data(), line.size() - 1);
  for (size_t n = 0; n < whole.size(); ++n) {
    EXPECT_FALSE(decode_line(whole.substr(0, n))) << "a line cut at " << n << " bytes decoded";
  }
}

TEST(JournalLine, ChecksumCatchesAChangedByte) {
  std::string line = encode_line(sample());
  line.pop_back();
  for (size_t i : {size_t{0}, size_t{9}, size_t{20}, line.size() - 2}) {
    std::string bad = line;
    bad[i] = bad[i] == 'x' ? 'y' : 'x';
    auto d = decode_line(bad);
    EXPECT_FALSE(d) << "byte " << i;
  }
  auto d = decode_line("0000000z " + line.substr(9));
  EXPECT_NE(d.message().find("checksum"), std::string::npos) << d.message();
}

TEST(JournalLine, RejectsWellChecksummedNonsense) {
  auto line_for = [](const std::string& body) {
    char crc[10];
    snprintf(crc, sizeof crc, "%08x ", crc32(body));
    return std::string(crc) + body;
  };
  for (const char* body : {"[]", "{}", "not json", R"({"src":"a b","seq":1})",
                           R"({"src":"s","seq":0,"time":1,"domain":"d","uri":"","priority":1,"key_start_date":1,"fields":{}})",
                           R"({"src":"s","seq":1,"time":1,"domain":"d:x","uri":"","priority":1,"key_start_date":1,"fields":{}})",
                           R"({"src":"s","seq":1,"time":1,"domain":"d","uri":"","priority":256,"key_start_date":1,"fields":{}})",
                           R"({"src":"s","seq":1,"time":1,"domain":"d","uri":"","priority":1,"key_start_date":1,"fields":[]})"}) {
    EXPECT_FALSE(decode_line(line_for(body))) << body;
  }
  EXPECT_TRUE(decode_line(line_for(
      R"({"src":"s","seq":1,"time":1,"domain":"d","uri":"","priority":1,"key_start_date":1,"fields":{}})")));
}

TEST(JournalLine, Domains) {
  EXPECT_TRUE(check_domain("notes.v2_x-y"));
  EXPECT_FALSE(check_domain(""));
  EXPECT_FALSE(check_domain("a:b"));
  EXPECT_FALSE(check_domain("a b"));
  EXPECT_FALSE(check_domain(std::string(65, 'a')));
}

TEST(JournalOptions, DefaultsAndErrors) {
  auto o = parse_options(nlohmann::json::object(), "t.json", "/etc/tether", "h1-3");
  ASSERT_TRUE(o) << o.message();
  EXPECT_EQ(o->dir, "/etc/tether/journal/h1-3");
  EXPECT_EQ(o->fsync, Fsync::Batch);
  EXPECT_EQ(o->rollover_s, 3600);
  EXPECT_FALSE(o->require_durable_redis);
  EXPECT_TRUE(parse_options({{"require_durable_redis", true}}, "t.json", "/etc", "h1-0")->require_durable_redis);
  auto abs = parse_options({{"dir", "/var/j"}, {"fsync", "always"}}, "t.json", "/etc", "h1-0");
  ASSERT_TRUE(abs);
  EXPECT_EQ(abs->dir, "/var/j/h1-0");
  EXPECT_EQ(abs->fsync, Fsync::Always);
  struct Bad {
    nlohmann::json section;
    const char* says;
  };
  for (const Bad& b : {Bad{{{"fsync", "sometimes"}}, "t.json: field 'journal.fsync': expected \"always\""},
                       Bad{{{"rollover_s", 0}}, "field 'journal.rollover_s': expected an integer from 1"},
                       Bad{{{"batch_max", "10"}}, "field 'journal.batch_max'"},
                       Bad{{{"dir", ""}}, "field 'journal.dir'"},
                       Bad{{{"require_durable_redis", "yes"}}, "field 'journal.require_durable_redis': expected true"},
                       Bad{{{"fsynk", "none"}}, "field 'journal.fsynk': unknown field"},
                       Bad{nlohmann::json::array(), "field 'journal': expected an object"}}) {
    auto r = parse_options(b.section, "t.json", "/etc", "h1-0");
    ASSERT_FALSE(r) << b.section.dump();
    EXPECT_NE(r.message().find(b.says), std::string::npos) << r.message();
  }
}

}  // namespace
}  // namespace tether::journal
