// Tests the decoders of registry values read back from Redis
// (src/registry/decode, src/registry/figures): every refusal, and that what
// tether itself writes decodes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "common/route.h"
#include "registry/decode.h"
#include "registry/figures.h"

namespace tether::registry {
namespace {

using nlohmann::json;

std::map<std::string, std::string> good_session() {
  return {{"host", "h1"}, {"worker", "2"}, {"addr", "unix:/tmp/w2.sock"},
          {"epoch", "3"}, {"created", "1700000000000"}, {"last_seen", "1700000000500"}};
}

TEST(RegistryDecodeTest, HostsAndAddressesAsConfigTakesThem) {
  EXPECT_TRUE(valid_host_id("h1"));
  EXPECT_TRUE(valid_host_id("web_01"));
  for (const char* h : {"", "h-1", "h:1", "h 1", "\xff", "a234567890123456789012345678901234"}) {
    EXPECT_FALSE(valid_host_id(h)) << h;
  }
  for (const char* a : {"unix:/tmp/w0.sock", "127.0.0.1:9000", "10.0.0.5:1", "localhost:65535"}) {
    EXPECT_TRUE(valid_addr(a)) << a;
  }
  for (const char* a : {"", "unix:", "garbage", ":9000", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
                        "127.0.0.1:-1", "127.0.0.1:+80", "1.2.3:80", "256.0.0.1:80", "example.com:80", "\xff:80",
                        "unix:/tmp/\xff", "unix:/tmp/a\nb", "127.0.0.1:80x"}) {
    EXPECT_FALSE(valid_addr(a)) << a;
  }
  EXPECT_FALSE(valid_addr(std::string("unix:/tmp/a\0b", 13)));
  EXPECT_FALSE(valid_addr("unix:/" + std::string(107, 'a')));
}

TEST(RegistryDecodeTest, IntegersAreDecimalAndInRange) {
  EXPECT_EQ(*decode_int("42", 0, 100), 42);
  EXPECT_EQ(*decode_int("-5", -10, 0), -5);
  EXPECT_EQ(*decode_int("0", 0, 100), 0);
  // Only the one spelling tether writes: "007" would make one worker two members.
  for (const char* t : {"", "x", "4x", " 4", "4 ", "1e3", "0x10", "99999999999999999999", "101", "-1", "007", "-0",
                        "00"}) {
    EXPECT_FALSE(decode_int(t, 0, 100)) << t;
  }
}

TEST(RegistryDecodeTest, WorkerNamesAreHostColonN) {
  auto n = decode_worker_name("h1:3");
  ASSERT_TRUE(n) << n.message();
  EXPECT_EQ(n->first, "h1");
  EXPECT_EQ(n->second, 3);
  for (const char* m : {"garbage", ":5", "h1:", "h1:x", "h1:-1", "h1:65536", "h1:99999999999999999999",
                        "h-1:1", "\xff\xfe:1", "h1:1:2", "h1:0999", "h1:00", "h1:-0"}) {
    auto r = decode_worker_name(m);
    EXPECT_FALSE(r) << m;
    if (!r) {
      EXPECT_NO_THROW(nlohmann::json(r.message()).dump());  // a reason in valid UTF-8
    }
  }
}

TEST(RegistryDecodeTest, SessionEntriesNeedEveryFieldWellFormed) {
  auto e = decode_session(good_session());
  ASSERT_TRUE(e) << e.message();
  EXPECT_EQ(e->owner.host, "h1");
  EXPECT_EQ(e->owner.worker, 2);
  EXPECT_EQ(e->owner.addr, "unix:/tmp/w2.sock");
  EXPECT_EQ(e->epoch, 3);
  EXPECT_EQ(e->created_ms, 1700000000000);
  EXPECT_EQ(e->last_seen_ms, 1700000000500);
  const std::pair<const char*, const char*> bad[] = {
      {"host", ""},       {"host", "\xff"},      {"host", "h-1"},  {"worker", "x"},       {"worker", "-1"},
      {"worker", "1e9"},  {"addr", "\xff\x00"},  {"addr", ""},     {"addr", "garbage"},   {"epoch", "many"},
      {"epoch", "0"},     {"epoch", ""},         {"created", "y"}, {"last_seen", "1.5"},
  };
  for (const auto& [k, v] : bad) {
    auto f = good_session();
    f[k] = v;
    auto r = decode_session(f);
    EXPECT_FALSE(r) << k << "=" << v;
    if (!r) {
      EXPECT_NE(r.message().find(k), std::string::npos) << r.message();
    }
  }
  auto missing = good_session();
  missing.erase("addr");
  EXPECT_FALSE(decode_session(missing));
}

TEST(RegistryDecodeTest, HeartbeatHashesNeedEveryFieldWellFormed) {
  const std::string good[5] = {"127.0.0.1:9001", "1", "12", "4242", "1700000000000"};
  auto w = decode_heartbeat("h1", 1, good);
  ASSERT_TRUE(w) << w.message();
  EXPECT_EQ(w->addr, "127.0.0.1:9001");
  EXPECT_TRUE(w->accepting);
  EXPECT_EQ(w->sessions, 12);
  EXPECT_EQ(w->pid, 4242);
  EXPECT_EQ(w->started_ms, 1700000000000);
  const std::pair<int, const char*> bad[] = {{0, "\xff\x00garbage"}, {0, ""},   {1, "maybe"}, {1, ""},
                                             {2, "-x"},              {2, "-1"}, {3, "abc"},   {4, "z"}};
  for (const auto& [i, v] : bad) {
    std::string values[5] = {good[0], good[1], good[2], good[3], good[4]};
    values[i] = v;
    EXPECT_FALSE(decode_heartbeat("h1", 1, values)) << i << "=" << v;
  }
}

json figures(int worker = 5) {
  return {{"host", "h1"},
          {"worker", worker},
          {"pid", 77},
          {"started", 1700000000},
          {"requests", {{"accepted", 3}}},
          {"sessions", {{"live", 1}, {"ended", {{"idle", 2}}}}},
          {"redis", {{"up", true}}},
          {"cache", {{"follower", {{"state", "ok"}}}, {"keys", json::array({"a", "b"})}}}};
}

TEST(RegistryFiguresTest, WhatAWorkerWritesDecodes) {
  auto f = Figures::decode(figures().dump(), "h1", 5);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(f->host(), "h1");
  EXPECT_EQ(f->worker(), 5);
  EXPECT_EQ(f->json()["requests"]["accepted"], 3);
  WorkerInfo w;
  w.host = "h1";
  w.worker = 5;
  w.addr = "unix:/tmp/w5.sock";
  w.heartbeat_ms = 9;
  f->set_directory(w);
  EXPECT_EQ(f->json()["addr"], "unix:/tmp/w5.sock");
  EXPECT_EQ(f->json()["heartbeat"], 9);
}

TEST(RegistryFiguresTest, EveryHostileShapeIsRefusedWithAReason) {
  std::string nested(300000, '[');
  nested += std::string(300000, ']');
  const std::string bad[] = {
      R"({"host":5})",
      R"({"worker":"x"})",
      R"({"host":"h1"})",
      R"({"host":"h1","worker":0})",  // another worker's name
      R"({"host":"h2","worker":5})",
      R"({"host":"h1","worker":5.5})",
      "{\"host\":\"h1\",\"worker\":5,\"x\":" + nested + "}",
      nested,
      "{\"host\":\"h1\",\"worker\":5,\"name\":\"\xff\xfe\"}",
      "{\"host\":\"h1\",\"worker\":5,\"\xc3\":1}",
      R"({"host":"h1","worker":5,"pid":"x"})",
      R"({"host":"h1","worker":5,"pid":-1})",
      R"({"host":"h1","worker":5,"started":"y"})",
      R"({"host":"h1","worker":5,"accepting":"no"})",
      R"({"host":"h1","worker":5,"addr":5})",
      R"({"host":"h1","worker":5,"requests":{"accepted":"many"}})",
      R"({"host":"h1","worker":5,"requests":"x"})",
      R"({"host":"h1","worker":5,"redis":5})",
      R"({"host":"h1","worker":5,"redis":{"up":"yes"}})",
      R"({"host":"h1","worker":5,"redis":{"up":1}})",
      R"({"host":"h1","worker":5,"sessions":[1,2]})",
      R"({"host":"h1","worker":5,"sessions":{"ended":5}})",
      R"({"host":"h1","worker":5,"sessions":{"ended":{"idle":"x"}}})",
      R"({"host":"h1","worker":5,"forward":null})",
      R"({"host":"h1","worker":5,"pid":1e400})",
      "[1,2,3]",
      "\xff{",
      "",
      "null",
  };
  for (const auto& text : bad) {
    auto f = Figures::decode(text, "h1", 5);
    EXPECT_FALSE(f) << text.substr(0, 80);
    if (!f) {
      EXPECT_FALSE(f.message().empty());
    }
  }
  std::string big = "{\"host\":\"h1\",\"worker\":5,\"x\":\"" + std::string(kMaxFiguresBytes, 'a') + "\"}";
  EXPECT_FALSE(Figures::decode(big, "h1", 5));
}

TEST(RegistryFiguresTest, OwnFiguresReplaceInvalidUtf8) {
  json mine = figures(3);
  mine["cache"]["note"] = "bad \xff byte";
  auto f = Figures::own(mine);
  ASSERT_TRUE(f) << f.message();
  EXPECT_EQ(f->json()["cache"]["note"], "bad \xEF\xBF\xBD byte");
  EXPECT_FALSE(Figures::own(json{{"host", 5}}));
  EXPECT_FALSE(Figures::own(json::array()));
}

TEST(RegistryFiguresTest, UpdateTakesOnlyTheSameWorker) {
  auto a = Figures::decode(figures(5).dump(), "h1", 5);
  json newer = figures(5);
  newer["requests"]["accepted"] = 9;
  auto b = Figures::own(newer);
  auto other = Figures::own(figures(6));
  ASSERT_TRUE(a && b && other);
  a->update_from(*other);
  EXPECT_EQ(a->json()["requests"]["accepted"], 3);
  a->update_from(*b);
  EXPECT_EQ(a->json()["requests"]["accepted"], 9);
}

}  // namespace
}  // namespace tether::registry
