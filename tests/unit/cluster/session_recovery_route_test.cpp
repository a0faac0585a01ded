// The session route's recovery after the owner died (issue 18, item 2), with
// the fixture's fakes: restored here under the same id at the next epoch,
// forwarded to the worker that won the race, lost without a checkpoint or
// with one the checks refuse (counted), never from a peer's request. End to
// end: tests/integration/test_recovery.py; the race against a real Redis:
// tests/unit/registry/registry_recovery_test.cpp.
#include "registry/recovery.h"
#include "support/session_route_fixture.h"

namespace tether {
namespace {

class SessionRecoveryTest : public route_test::SessionRouteTest {};

TEST_F(SessionRecoveryTest, ADeadOwnersCheckpointIsRestoredHereUnderTheSameIdAtTheNextEpoch) {
  SessionId sid = dead_owner_with_checkpoint();
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));  // h2-1 is not in the directory
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(n_of(r), 42) << "the state as of the checkpoint, then the request";
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(string_field(*parse_json(r.body), "order").value_or(""), "restore;start;");
  auto c = codec_.decode(set_cookie(r));
  ASSERT_TRUE(c.has_value()) << set_cookie_header(r);
  EXPECT_EQ(c->sid, sid);
  EXPECT_EQ(c->host, "h1");
  EXPECT_EQ(c->worker, 0);
  EXPECT_EQ(c->epoch, 4);
  EXPECT_EQ(book_.entries[sid].owner.host, "h1");
  EXPECT_EQ(pool_->stats().recovered.load(), 1u);
  EXPECT_EQ(pool_->stats().moved_in.load(), 0u);
  EXPECT_TRUE(peers_.calls.empty());

  Response again = get(codec_.encode(*c));  // the new cookie: served here, no new cookie
  EXPECT_EQ(n_of(again), 43);
  EXPECT_EQ(reason_of(again), "recovered");
  EXPECT_EQ(set_cookie(again), "");
  EXPECT_EQ(book_.recoveries, 1);
}

// The old cookie (naming the dead owner), forwarded here by a peer later: the recovered session.
TEST_F(SessionRecoveryTest, TheOldCookieOfARecoveredSessionFindsItHereAlsoFromAPeer) {
  SessionId sid = dead_owner_with_checkpoint();
  std::string old = token(sid, "h2", 1, unix_seconds(), 3);
  ASSERT_EQ(reason_of(get(old)), "recovered");
  Forwarded from{"h3-4", ""};
  Response r = get(old, &from);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(n_of(r), 43);
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(codec_.decode(set_cookie(r))->epoch, 4);
  EXPECT_EQ(book_.recoveries, 1);
}

TEST_F(SessionRecoveryTest, ASilentOwnersSessionIsRecoveredAfterTheQuickTimeout) {
  SessionId sid = dead_owner_with_checkpoint();
  peers_.addrs["h2-1"] = "127.0.0.1:9001";
  peers_.answer = CallResult::Kind::NoAnswer;
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(n_of(r), 42);
  EXPECT_EQ(peers_.calls.size(), 1u) << "one try at the owner, then recovered here";
}

TEST_F(SessionRecoveryTest, ARecoveryAnotherWorkerWonIsForwardedToTheWinner) {
  SessionId sid = dead_owner_with_checkpoint();
  book_.winner = registry::Owner{"h3", 4, "127.0.0.1:9004"};
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  EXPECT_EQ(r.body, "from 127.0.0.1:9004");
  ASSERT_EQ(peers_.calls.size(), 1u);
  EXPECT_EQ(peers_.calls[0].reason, "") << "the winner serves the session; it makes none";
  EXPECT_EQ(pool_->stats().live.load(), 0);
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

// The session had moved (a drain) to h3-4, which died too: recovered from h3-4's checkpoint.
TEST_F(SessionRecoveryTest, ASessionWhoseNewOwnerIsSilentTooIsRecoveredFromThatOwnersCheckpoint) {
  SessionId sid = dead_owner_with_checkpoint(record("h3", 4, 3));
  book_.entries[sid].owner = registry::Owner{"h3", 4, "127.0.0.1:9004"};
  peers_.answer = CallResult::Kind::Unreachable;
  Response r = get(token(sid, "h2", 1, unix_seconds(), 2));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(reason_of(r), "recovered");
  EXPECT_EQ(n_of(r), 42);
  EXPECT_EQ(codec_.decode(set_cookie(r))->epoch, 4);
  EXPECT_EQ(book_.recoveries, 2);
}

TEST_F(SessionRecoveryTest, ADeadOwnerWithoutACheckpointStartsOverAsLostAndTheEntryStays) {
  SessionId sid = dead_owner_with_checkpoint();
  book_.records.erase(sid);
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_EQ(n_of(r), 1);
  EXPECT_NE(codec_.decode(set_cookie(r))->sid, sid);
  EXPECT_EQ(book_.entries[sid].owner.host, "h2");
  EXPECT_EQ(book_.entries[sid].epoch, 3);
  EXPECT_EQ(book_.recoveries, 1);
}

// Each record the design's checks refuse: counted, no take-over, a new session (lost).
TEST_F(SessionRecoveryTest, ABadCheckpointRecordIsRefusedCountedAndTheSessionIsLost) {
  adoptions_.apps["notes"] = factory_;
  nlohmann::json v2 = *parse_json(record("h2", 1, 3));
  v2["v"] = 2;
  nlohmann::json no_state = *parse_json(record("h2", 1, 3));
  no_state.erase("state");
  nlohmann::json str_epoch = *parse_json(record("h2", 1, 3));
  str_epoch["epoch"] = "3";
  const std::vector<std::string> bad = {
      "not json",
      "[1,2]",
      std::string(200, '['),               // nested past the bound
      "{\"v\":1,\"app\":\"\xff\"}",      // invalid UTF-8, no fields
      v2.dump(),
      no_state.dump(),
      str_epoch.dump(),
      record("h2", 1, 4),                  // a later epoch than the entry's (the write is fenced)
      record("h2", 2, 3),                  // another worker
      record("h9", 1, 3),                  // another host
      record("h2", 1, 3, "nosuchapp"),     // no such session app here
  };
  for (const std::string& text : bad) {
    uint64_t before = firewall::refused_count(registry::kBadRecord);
    SessionId sid = dead_owner_with_checkpoint(text);
    Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
    ASSERT_EQ(r.status, 200) << text;
    EXPECT_EQ(reason_of(r), "lost") << text;
    EXPECT_EQ(n_of(r), 1) << text;
    EXPECT_EQ(firewall::refused_count(registry::kBadRecord) - before, 1u) << text;
    EXPECT_EQ(book_.entries[sid].owner.host, "h2") << text;
    EXPECT_EQ(book_.entries[sid].epoch, 3) << text;
  }
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

// A record from an earlier epoch is a leftover (the owner before a move):
// not used (lost), counted as stale, not as a bad record.
TEST_F(SessionRecoveryTest, ARecordFromAnEarlierEpochIsStaleAndTheSessionIsLost) {
  uint64_t bad = firewall::refused_count(registry::kBadRecord), stale = registry::stale_record_count();
  SessionId sid = dead_owner_with_checkpoint(record("h2", 1, 2));
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_EQ(firewall::refused_count(registry::kBadRecord), bad);
  EXPECT_EQ(registry::stale_record_count() - stale, 1u);
  EXPECT_EQ(book_.entries[sid].epoch, 3);
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

TEST_F(SessionRecoveryTest, AStateTheAppRefusesToRestoreIsCountedAndTheSessionIsLost) {
  SessionId sid = dead_owner_with_checkpoint(record("h2", 1, 3, "notes", nlohmann::json{{"n", -5}}));
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_NE(codec_.decode(set_cookie(r))->sid, sid);
  EXPECT_EQ(pool_->stats().restore_failed.load(), 1u);
  EXPECT_EQ(pool_->stats().recovered.load(), 0u);
}

TEST_F(SessionRecoveryTest, AForwardedRequestNeverRecovers) {
  SessionId sid = dead_owner_with_checkpoint();
  Forwarded from{"h3-4", ""};
  Response r = get(token(sid, "h2", 1, unix_seconds(), 3), &from);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(reason_of(r), "lost");
  EXPECT_EQ(book_.recoveries, 0);
  EXPECT_EQ(book_.entries[sid].owner.host, "h2");
}

TEST_F(SessionRecoveryTest, APeerCannotStartANewSessionAsRecovered) {
  Forwarded from{"h2-1", "recovered"};
  Response r = get("", &from);
  EXPECT_EQ(reason_of(r), "lost");
}

}  // namespace
}  // namespace tether
