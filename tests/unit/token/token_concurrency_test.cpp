// The token codec read by many threads while its keys are replaced (SIGHUP):
// encode and decode take no lock (token.h), every call uses one whole key
// set, and a set replaced while a call uses it stays valid. Meant for the
// TSan build too (make SANITIZER=thread).
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "token/token.h"

namespace tether {
namespace {

TokenKey random_key() {
  uint8_t b[kTokenKeyBytes];
  randombytes_buf(b, sizeof b);
  return TokenKey(b);
}

std::shared_ptr<const KeySet> set_of(std::vector<TokenKey> keys) {
  auto s = KeySet::make(std::move(keys));
  if (!s) throw std::runtime_error(s.message());
  return s.value();
}

TEST(TokenConcurrencyTest, CallsDuringReplacesUseOneWholeKeySet) {
  ASSERT_GE(sodium_init(), 0);
  TokenKey a = random_key();
  auto unlike_a = [&] {
    for (;;) {
      TokenKey k = random_key();
      if (k.id() != a.id()) return k;
    }
  };
  TokenKey b = unlike_a();
  TokenKey a_verify(a.bytes(), true), b_verify(b.bytes(), true);
  auto sealed_by_a = set_of({a, b_verify});
  auto sealed_by_b = set_of({b, a_verify});
  auto only_b = set_of({b});
  auto made = TokenCodec::from_keys({a, b_verify});
  ASSERT_TRUE(made);
  TokenCodec& codec = made.value();
  const TokenClaims claims{SessionId::random(), "h1", 2, 1700000000, 3};

  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, calls{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        std::string token = codec.encode(claims);
        // Sealed with a or b (whichever set was current): one of the two opens it.
        bool opens = TokenCodec::from_keys({a}).value().decode(token).has_value() ||
                     TokenCodec::from_keys({b}).value().decode(token).has_value();
        auto back = codec.decode(token);  // both sets open both keys
        if (!opens || !back || back->sid.bytes != claims.sid.bytes || back->epoch != 3) bad++;
        if (codec.keys()->keys.size() != 2) bad++;
        calls++;
      }
    });
  }
  for (int i = 0; i < 2000 || calls.load() < 200; ++i) {
    codec.replace(i % 2 == 0 ? sealed_by_b : sealed_by_a);
    if (i > 200000) break;  // bounded
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(calls.load(), 0);
  // Afterwards only the set installed last counts.
  codec.replace(only_b);
  TokenCodec a_only = std::move(TokenCodec::from_keys({a}).value());
  EXPECT_FALSE(codec.decode(a_only.encode(claims)).has_value());
  EXPECT_TRUE(codec.decode(codec.encode(claims)).has_value());
}

// A codec moved (as Result<TokenCodec> hands it over) keeps its key set.
TEST(TokenConcurrencyTest, AMovedCodecKeepsItsKeys) {
  ASSERT_GE(sodium_init(), 0);
  auto made = TokenCodec::from_keys({random_key()});
  ASSERT_TRUE(made);
  TokenCodec moved(std::move(made.value()));
  const TokenClaims claims{SessionId::random(), "h1", 2, 1700000000};
  EXPECT_TRUE(moved.decode(moved.encode(claims)).has_value());
}

}  // namespace
}  // namespace tether
