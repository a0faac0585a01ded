// Status figures as text and Prometheus exposition (src/ops/metrics.h):
// the Prometheus text is parsed back line by line and checked against the JSON.
#include "ops/metrics.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <map>
#include <sstream>

namespace tether::metrics {
namespace {

using nlohmann::json;

json worker(int n, int accepted, int live) {
  return {{"host", "h1"},
          {"worker", n},
          {"pid", 100 + n},
          {"started", 1700000000 + n},
          {"requests", {{"accepted", accepted}, {"in_flight", 1}}},
          {"sessions", {{"live", live}, {"created", live + 2}, {"ended", {{"idle", 2}, {"drained", n}}}}},
          {"redis", {{"up", true}}},
          {"cache", {{"hits", 5}, {"entries", 3}, {"follower", {{"state", "ok"}}}}}};
}

// Decoded figures, as the writers take them.
std::vector<registry::Figures> figs(const std::vector<json>& ws) {
  std::vector<registry::Figures> out;
  for (const auto& w : ws) {
    auto f = registry::Figures::own(w);
    EXPECT_TRUE(f) << f.message();
    if (f) out.push_back(std::move(f.value()));
  }
  return out;
}

struct Family {
  std::string type, help;
  std::map<std::string, double> samples;  // labels text -> value
};

// A strict reader of the 0.0.4 text format: HELP and TYPE before the samples
// of each family, one family once, names and labels well formed.
std::map<std::string, Family> parse(const std::string& text) {
  std::map<std::string, Family> out;
  static const RE2 help_re(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+))");
  static const RE2 type_re(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|untyped))");
  static const RE2 sample_re(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\} (-?[0-9.eE+]+))");
  std::istringstream in(text);
  std::string line, current;
  std::string m1, m2, m3;
  while (std::getline(in, line)) {
    if (RE2::FullMatch(line, help_re, &m1, &m2)) {
      current = m1;
      EXPECT_EQ(out.count(current), 0u) << "family twice: " << current;
      out[current].help = m2;
    } else if (RE2::FullMatch(line, type_re, &m1, &m2)) {
      EXPECT_EQ(m1, current) << line;
      out[current].type = m2;
    } else if (RE2::FullMatch(line, sample_re, &m1, &m2, &m3)) {
      EXPECT_EQ(m1, current) << "sample outside its family: " << line;
      EXPECT_FALSE(out[current].type.empty()) << line;
      out[current].samples[m2] = std::stod(m3);
    } else {
      ADD_FAILURE() << "not exposition format: " << line;
    }
  }
  return out;
}

TEST(MetricsTest, PrometheusParsesAndCarriesEveryFigure) {
  auto fams = parse(to_prometheus(figs({worker(0, 10, 4), worker(1, 7, 2)})));
  for (auto& [name, f] : fams) EXPECT_EQ(name.rfind("tether_", 0), 0u) << name;
  ASSERT_TRUE(fams.count("tether_requests_accepted_total"));
  EXPECT_EQ(fams["tether_requests_accepted_total"].type, "counter");
  EXPECT_EQ(fams["tether_requests_accepted_total"].samples.at(R"(host="h1",worker="0")"), 10);
  EXPECT_EQ(fams["tether_requests_accepted_total"].samples.at(R"(host="h1",worker="1")"), 7);
  EXPECT_EQ(fams["tether_sessions_live"].type, "gauge");
  EXPECT_EQ(fams["tether_sessions_live"].samples.at(R"(host="h1",worker="0")"), 4);
  EXPECT_EQ(fams["tether_sessions_ended_total"].type, "counter");
  EXPECT_EQ(fams["tether_sessions_ended_total"].samples.at(R"(host="h1",worker="1",reason="drained")"), 1);
  EXPECT_EQ(fams["tether_sessions_ended_total"].samples.at(R"(host="h1",worker="0",reason="idle")"), 2);
  EXPECT_EQ(fams["tether_redis_up"].samples.at(R"(host="h1",worker="0")"), 1);
  EXPECT_EQ(fams["tether_start_time_seconds"].samples.at(R"(host="h1",worker="1")"), 1700000001);
  EXPECT_EQ(fams["tether_cache_entries"].type, "gauge");
  EXPECT_EQ(fams["tether_cache_hits"].type, "untyped");
  EXPECT_FALSE(fams.count("tether_worker"));  // a label, not a figure
  EXPECT_FALSE(fams.count("tether_pid"));
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  json w = worker(0, 1, 1);
  w["sessions"]["ended"]["a\"b\\c\nd"] = 1;
  auto fams = parse(to_prometheus(figs({w})));
  EXPECT_EQ(fams["tether_sessions_ended_total"].samples.count(R"(host="h1",worker="0",reason="a\"b\\c\nd")"), 1u);
}

TEST(MetricsTest, TextIsOneFigurePerLine) {
  std::string t = to_text(worker(2, 12, 3));
  EXPECT_NE(t.find("requests accepted: 12\n"), std::string::npos) << t;
  EXPECT_NE(t.find("sessions ended drained: 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("host: h1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("cache follower state: ok\n"), std::string::npos) << t;
  std::istringstream in(t);
  for (std::string line; std::getline(in, line);) EXPECT_NE(line.find(": "), std::string::npos) << line;
}

TEST(MetricsTest, SumAddsWorkersUp) {
  json s = sum(figs({worker(0, 10, 4), worker(1, 7, 2)}));
  EXPECT_EQ(s["requests"]["accepted"], 17);
  EXPECT_EQ(s["sessions"]["live"], 6);
  EXPECT_EQ(s["sessions"]["ended"]["drained"], 1);
  EXPECT_EQ(s["redis"]["up"], 2);  // workers with Redis up
  EXPECT_EQ(s["started"], 1700000000);
  EXPECT_EQ(s["host"], "h1");
  EXPECT_EQ(s["workers"], 2);
  EXPECT_FALSE(s.contains("pid"));
}

TEST(MetricsTest, SumOfStatusJsonLeavesOutWhatDoesNotDecode) {
  json bad = worker(1, 7, 2);
  bad["requests"]["accepted"] = "many";
  json s = sum(std::vector<json>{worker(0, 10, 4), bad, json{{"host", 5}}, json{{"worker", "x"}}});
  EXPECT_EQ(s["workers"], 1);
  EXPECT_EQ(s["requests"]["accepted"], 10);
}

TEST(MetricsTest, SumOfHugeCountersDoesNotWrap) {
  json a = worker(0, 1, 1), b = worker(1, 1, 1);
  a["requests"]["accepted"] = INT64_MAX;
  b["requests"]["accepted"] = INT64_MAX;
  json s = sum(figs({a, b}));
  ASSERT_TRUE(s["requests"]["accepted"].is_number_float());
  EXPECT_GT(s["requests"]["accepted"].get<double>(), 1.8e19);
}

TEST(MetricsTest, FormatNamesAreChecked) {
  EXPECT_EQ(*parse_format(""), Format::Json);
  EXPECT_EQ(*parse_format("prometheus"), Format::Prometheus);
  auto bad = parse_format("xml");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.message().find("json, text or prometheus"), std::string::npos);
}

}  // namespace
}  // namespace tether::metrics
