// Tests session tokens (src/token): encode/decode, tampering, key rotation and the key file.
#include <gtest/gtest.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>

#include "token/token.h"

namespace tether {
namespace {

const std::string kB64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

class TokenTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }

  static std::string random_hex() {
    uint8_t b[kTokenKeyBytes];
    randombytes_buf(b, sizeof b);
    char hex[2 * kTokenKeyBytes + 1];
    sodium_bin2hex(hex, sizeof hex, b, sizeof b);
    return std::string(hex, 2 * kTokenKeyBytes);
  }
  static TokenKey key_from_hex(const std::string& hex) {
    uint8_t b[kTokenKeyBytes];
    size_t len = 0;
    if (sodium_hex2bin(b, sizeof b, hex.data(), hex.size(), nullptr, &len, nullptr) != 0) throw std::runtime_error("hex");
    return TokenKey(b);
  }
  static TokenKey random_key() { return key_from_hex(random_hex()); }
  // A random key whose id differs from every key in others.
  static TokenKey key_unlike(const std::vector<TokenKey>& others) {
    for (;;) {
      TokenKey k = random_key();
      bool clash = false;
      for (const auto& o : others) clash = clash || o.id() == k.id();
      if (!clash) return k;
    }
  }
  static TokenCodec codec(std::vector<TokenKey> keys) {
    auto r = TokenCodec::from_keys(std::move(keys));
    if (!r) throw std::runtime_error(r.message());
    return std::move(r.value());
  }
  static TokenClaims claims(std::string host = "h1", int worker = 3, int64_t issued = 1700000000) {
    return TokenClaims{SessionId::random(), std::move(host), worker, issued};
  }
};

TEST_F(TokenTest, RoundTripKeepsEveryClaim) {
  TokenCodec c = codec({random_key()});
  TokenClaims in = claims("web_7", 12, 1700000123);
  std::string token = c.encode(in);
  EXPECT_EQ(TokenCodec::route_of(token), "web_7-12");
  auto out = c.decode(token);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->sid, in.sid);
  EXPECT_EQ(out->host, "web_7");
  EXPECT_EQ(out->worker, 12);
  EXPECT_EQ(out->issued, 1700000123);
}

// libsodium read '\xff' in place of '_' as the same digit, so a token had
// other spellings that decoded to the same session (found by
// tests/fuzz/token_fuzz). Every byte outside the alphabet is refused.
TEST_F(TokenTest, HighBytesInPlaceOfDigitsAreRefused) {
  TokenCodec c = codec({random_key()});
  std::string token;
  while (token.find('_', token.find('.')) == std::string::npos) token = c.encode(claims());
  ASSERT_TRUE(c.decode(token).has_value());
  size_t dot = token.find('.');
  for (size_t i = dot + 1; i < token.size(); ++i) {
    for (int high = 0x80; high <= 0xff; ++high) {
      std::string t = token;
      t[i] = static_cast<char>(high);
      ASSERT_FALSE(c.decode(t).has_value()) << "byte " << high << " at " << i;
    }
  }
}

TEST_F(TokenTest, TwoEncodingsOfTheSameClaimsDiffer) {
  TokenCodec c = codec({random_key()});
  TokenClaims in = claims();
  std::string a = c.encode(in), b = c.encode(in);
  EXPECT_NE(a, b);  // fresh nonce each time
  ASSERT_TRUE(c.decode(a));
  ASSERT_TRUE(c.decode(b));
  EXPECT_EQ(c.decode(a)->sid, c.decode(b)->sid);
}

TEST_F(TokenTest, IssuedDecodesExactlySoCallersCanCheckExpiry) {
  TokenCodec c = codec({random_key()});
  for (int64_t issued : {int64_t(0), int64_t(1), int64_t(1700000000), int64_t(4102444800), INT64_MAX}) {
    auto out = c.decode(c.encode(claims("h1", 0, issued)));
    ASSERT_TRUE(out.has_value()) << issued;
    EXPECT_EQ(out->issued, issued);
  }
}

// The ownership epoch travels in the token (issue 16): a session that moved
// carries its generation, so a stale copy can tell it is stale.
TEST_F(TokenTest, EpochRoundTripsAndEpochOneWritesTheOldLayout) {
  TokenCodec c = codec({random_key()});
  for (int64_t epoch : {int64_t(2), int64_t(3), int64_t(1000), int64_t(UINT32_MAX)}) {
    TokenClaims in = claims("web_7", 12, 1700000123);
    in.epoch = epoch;
    auto out = c.decode(c.encode(in));
    ASSERT_TRUE(out.has_value()) << epoch;
    EXPECT_EQ(out->epoch, epoch);
    EXPECT_EQ(out->sid, in.sid);
    EXPECT_EQ(out->host, "web_7");
    EXPECT_EQ(out->worker, 12);
    EXPECT_EQ(out->issued, 1700000123);
  }
  // Epoch 0 or 1 (a session that never moved) is written as version 1,
  // readable by workers that predate the epoch; it decodes as 0 (unknown).
  for (int64_t epoch : {int64_t(0), int64_t(1)}) {
    TokenClaims in = claims();
    in.epoch = epoch;
    std::string one = c.encode(in);
    in.epoch = 2;
    EXPECT_LT(one.size(), c.encode(in).size());
    auto out = c.decode(one);
    ASSERT_TRUE(out.has_value());
    EXPECT_EQ(out->epoch, 0);
  }
}

TEST_F(TokenTest, LargestEpochHostAndWorkerFitUnderTheLengthLimit) {
  TokenCodec c = codec({random_key()});
  TokenClaims in = claims(std::string(kTokenMaxHostBytes, 'x'), 65535);
  in.epoch = UINT32_MAX;
  std::string token = c.encode(in);
  EXPECT_LE(token.size(), kTokenMaxLength);
  auto out = c.decode(token);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->epoch, UINT32_MAX);
}

TEST_F(TokenTest, LargestHostAndWorkerFitUnderTheLengthLimit) {
  TokenCodec c = codec({random_key()});
  std::string host(kTokenMaxHostBytes, 'x');
  std::string token = c.encode(claims(host, 65535));
  EXPECT_LE(token.size(), kTokenMaxLength);
  auto out = c.decode(token);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->host, host);
  EXPECT_EQ(out->worker, 65535);
}

TEST_F(TokenTest, HostLongerThanTheLimitNeverDecodesToAnotherHost) {
  TokenCodec c = codec({random_key()});
  std::string token = c.encode(claims(std::string(kTokenMaxHostBytes + 1, 'x'), 1));
  EXPECT_FALSE(c.decode(token).has_value());
}

TEST_F(TokenTest, ChangingAnyCharacterInvalidatesTheToken) {
  TokenCodec c = codec({random_key()});
  std::string token = c.encode(claims());
  ASSERT_TRUE(c.decode(token));
  for (size_t i = 0; i < token.size(); ++i) {
    for (char replacement : kB64Alphabet + ".") {
      if (replacement == token[i]) continue;
      std::string t = token;
      t[i] = replacement;
      EXPECT_FALSE(c.decode(t).has_value()) << "position " << i << " -> " << replacement << ": " << t;
    }
  }
}

TEST_F(TokenTest, ChangingTheRouteInvalidatesTheToken) {
  TokenCodec c = codec({random_key()});
  std::string token = c.encode(claims("h1", 3));
  std::string body = token.substr(token.find('.'));
  for (std::string route : {"h1-4", "h2-3", "h1-33", "h1-03", "h13", "h1-3-3", "x"}) {
    EXPECT_FALSE(c.decode(route + body).has_value()) << route;
  }
  // The body of a token for another route, under this token's route.
  std::string other = c.encode(claims("h1", 4));
  EXPECT_FALSE(c.decode("h1-3" + other.substr(other.find('.'))).has_value());
  EXPECT_TRUE(c.decode("h1-3" + body).has_value());
}

TEST_F(TokenTest, TruncatedTokensFail) {
  TokenCodec c = codec({random_key()});
  std::string token = c.encode(claims());
  for (size_t n = 0; n < token.size(); ++n) {
    EXPECT_FALSE(c.decode(token.substr(0, n)).has_value()) << "length " << n;
    EXPECT_FALSE(c.decode(token.substr(token.size() - n)).has_value()) << "suffix " << n;
  }
  EXPECT_FALSE(c.decode(token + "A").has_value());
}

TEST_F(TokenTest, TokenFromAnotherKeyFails) {
  TokenKey a = random_key();
  TokenKey b = key_unlike({a});
  std::string token = codec({a}).encode(claims());
  EXPECT_FALSE(codec({b}).decode(token).has_value());
  EXPECT_TRUE(codec({a}).decode(token).has_value());
}

TEST_F(TokenTest, RotationDecodesOldTokensAndEncodesWithTheNewKey) {
  TokenKey a = random_key();
  TokenKey b = key_unlike({a});
  TokenCodec old_codec = codec({a});
  TokenCodec rotated = codec({b, a});
  EXPECT_EQ(rotated.keys()->sealing().id(), b.id());

  TokenClaims in = claims();
  std::string old_token = old_codec.encode(in);
  auto out = rotated.decode(old_token);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->sid, in.sid);

  std::string new_token = rotated.encode(in);
  EXPECT_TRUE(codec({b}).decode(new_token).has_value());
  EXPECT_FALSE(old_codec.decode(new_token).has_value());
}

TEST_F(TokenTest, DuplicateKeyIdsAreRefused) {
  std::map<uint8_t, std::string> seen;  // id -> key hex
  std::string first, second;
  while (first.empty()) {
    std::string hex = random_hex();
    uint8_t id = key_from_hex(hex).id();
    auto [it, fresh] = seen.emplace(id, hex);
    if (!fresh) first = it->second, second = hex;
  }
  ASSERT_NE(first, second);
  TokenKey a = key_from_hex(first), b = key_from_hex(second);
  ASSERT_EQ(a.id(), b.id());
  TokenKey other = key_unlike({a});
  auto r = TokenCodec::from_keys({a, other, b});
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("same key id"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("1 and 3"), std::string::npos) << r.message();
}

TEST_F(TokenTest, NoKeysRefused) { EXPECT_FALSE(TokenCodec::from_keys({})); }

TEST_F(TokenTest, OverLongAndGarbageStringsFail) {
  TokenCodec c = codec({random_key()});
  std::string token = c.encode(claims());
  // A valid token behind a long route: over the limit, refused before any work.
  std::string long_route(kTokenMaxLength, 'h');
  EXPECT_FALSE(c.decode(long_route + token.substr(token.find('.'))).has_value());
  EXPECT_FALSE(c.decode(std::string(kTokenMaxLength + 1, 'A')).has_value());
  EXPECT_FALSE(c.decode("h1-3." + std::string(kTokenMaxLength, 'A')).has_value());
  for (std::string g : {"", ".", "..", "abc", "h1-3", "h1-3.", ".AAAA", "h1-3.!!!!", "h1-3.AAAA=",
                        "h1-3.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}) {
    EXPECT_FALSE(c.decode(g).has_value()) << g;
  }
  std::string with_nul = token;
  with_nul.insert(token.size() / 2, 1, '\0');
  EXPECT_FALSE(c.decode(with_nul).has_value());
  for (int i = 0; i < 200; ++i) {
    std::string junk(randombytes_uniform(200), '\0');
    randombytes_buf(junk.data(), junk.size());
    EXPECT_FALSE(c.decode(junk).has_value());
  }
}

TEST_F(TokenTest, RouteOfNeedsNoKey) {
  EXPECT_EQ(TokenCodec::route_of("h1-3.abcd"), "h1-3");
  EXPECT_EQ(TokenCodec::route_of("no-dot-here"), "");
  EXPECT_EQ(TokenCodec::route_of(""), "");
  EXPECT_EQ(make_route("h1", 7), "h1-7");
}

TEST(Route, ParseIsTheInverseOfMakeAndStrict) {
  std::string host;
  int worker = -1;
  ASSERT_TRUE(parse_route(make_route("h1", 7), &host, &worker));
  EXPECT_EQ(host, "h1");
  EXPECT_EQ(worker, 7);
  ASSERT_TRUE(parse_route("a-b-12", &host, &worker));  // the last dash splits
  EXPECT_EQ(host, "a-b");
  EXPECT_EQ(worker, 12);
  for (const char* bad : {"", "h1", "h1-", "-3", "h1-x", "h1-3x", "h1-+3", "h1- 3", "h1-99999999999"}) {
    EXPECT_FALSE(parse_route(bad, &host, &worker)) << bad;
  }
}

// Key files, in a private temporary directory.
class KeyFileTest : public TokenTest {
 protected:
  void SetUp() override {
    TokenTest::SetUp();
    char tmpl[] = "/tmp/tether_token_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    EXPECT_EQ(::chmod(path.c_str(), mode), 0);
    return path;
  }
  // Two keys with distinct ids, as hex.
  static std::pair<std::string, std::string> two_keys() {
    std::string a = random_hex();
    std::string b;
    do b = random_hex();
    while (key_from_hex(b).id() == key_from_hex(a).id());
    return {a, b};
  }
  std::string dir_;
};

TEST_F(KeyFileTest, MissingFileRefusedNamingIt) {
  std::string path = dir_ + "/nope.keys";
  auto r = TokenCodec::from_key_file(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find(path), std::string::npos) << r.message();
}

TEST_F(KeyFileTest, GroupOrWorldReadableFileRefused) {
  std::string hex = random_hex();
  for (mode_t mode : {0644, 0640, 0604, 0660}) {
    std::string path = write("open.keys", hex + "\n", mode);
    auto r = TokenCodec::from_key_file(path);
    ASSERT_FALSE(r) << std::oct << mode;
    EXPECT_NE(r.message().find("chmod"), std::string::npos) << r.message();
  }
  EXPECT_TRUE(TokenCodec::from_key_file(write("open.keys", hex + "\n", 0600)));
  EXPECT_TRUE(TokenCodec::from_key_file(write("open.keys", hex + "\n", 0400)));
}

TEST_F(KeyFileTest, MalformedLineRefusedNamingTheLine) {
  std::string good = random_hex();
  for (const std::string& bad : std::vector<std::string>{good.substr(2), good + "00", std::string(64, 'g'), "not a key"}) {
    std::string path = write("bad.keys", "# keys\n\n" + good + "\n" + bad + "\n");
    auto r = TokenCodec::from_key_file(path);
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.message().find("line 4"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(path), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find(good), std::string::npos) << "a key must not be echoed";
  }
}

TEST_F(KeyFileTest, CommentsAndBlankLinesAreIgnored) {
  std::string hex = random_hex();
  std::string path = write("k.keys", "# tether keys\n\n   \n  " + hex + "   # current\n# old ones below\n\n");
  auto file_codec = TokenCodec::from_key_file(path);
  ASSERT_TRUE(file_codec) << file_codec.message();
  // The key read is exactly the key written.
  std::string token = codec({key_from_hex(hex)}).encode(claims());
  EXPECT_TRUE(file_codec->decode(token).has_value());
}

TEST_F(KeyFileTest, EmptyOrCommentOnlyFileRefused) {
  for (std::string text : {"", "\n\n", "# only a comment\n"}) {
    auto r = TokenCodec::from_key_file(write("empty.keys", text));
    ASSERT_FALSE(r) << text;
    EXPECT_NE(r.message().find("no key"), std::string::npos) << r.message();
  }
}

TEST_F(KeyFileTest, TwoKeysFirstEncryptsBothDecrypt) {
  std::string first = random_hex();
  std::string second;
  do second = random_hex();
  while (key_from_hex(second).id() == key_from_hex(first).id());
  auto file_codec = TokenCodec::from_key_file(write("two.keys", first + "\n" + second + "\n"));
  ASSERT_TRUE(file_codec) << file_codec.message();
  EXPECT_EQ(file_codec->keys()->sealing().id(), key_from_hex(first).id());
  std::string from_file = file_codec->encode(claims());
  EXPECT_TRUE(codec({key_from_hex(first)}).decode(from_file).has_value());
  EXPECT_FALSE(codec({key_from_hex(second)}).decode(from_file).has_value());
  EXPECT_TRUE(file_codec->decode(codec({key_from_hex(second)}).encode(claims())).has_value());
}

TEST_F(KeyFileTest, SameKeyTwiceRefused) {
  std::string hex = random_hex();
  auto r = TokenCodec::from_key_file(write("dup.keys", hex + "\n" + hex + "\n"));
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("same key id"), std::string::npos) << r.message();
}

TEST_F(KeyFileTest, VerifyOnlyKeyOpensButNeverSealsWhereverItIsListed) {
  auto [old_key, new_key] = two_keys();
  // Step 1 of a rotation: the new key listed first, but verify-only.
  auto file_codec = TokenCodec::from_key_file(write("k.keys", new_key + " verify-only  # next\n" + old_key + "\n"));
  ASSERT_TRUE(file_codec) << file_codec.message();
  auto keys = file_codec->keys();
  ASSERT_EQ(keys->keys.size(), 2u);
  EXPECT_EQ(keys->sealing().id(), key_from_hex(old_key).id());
  EXPECT_FALSE(keys->sealing().verify_only());
  EXPECT_TRUE(keys->keys[1].verify_only());
  std::string sealed = file_codec->encode(claims());
  EXPECT_TRUE(codec({key_from_hex(old_key)}).decode(sealed).has_value());
  EXPECT_FALSE(codec({key_from_hex(new_key)}).decode(sealed).has_value());
  EXPECT_TRUE(file_codec->decode(codec({key_from_hex(new_key)}).encode(claims())).has_value());
}

TEST_F(KeyFileTest, EveryKeyVerifyOnlyOrAnUnknownWordRefused) {
  auto [a, b] = two_keys();
  auto all = TokenCodec::from_key_file(write("k.keys", a + " verify-only\n" + b + " verify-only\n"));
  ASSERT_FALSE(all);
  EXPECT_NE(all.message().find("one key must seal"), std::string::npos) << all.message();
  for (std::string tail : {" verify", " verify-only extra", " seal"}) {
    auto r = TokenCodec::from_key_file(write("k.keys", a + "\n" + b + tail + "\n"));
    ASSERT_FALSE(r) << tail;
    EXPECT_NE(r.message().find("line 2"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find("verify-only"), std::string::npos) << r.message();
  }
}

TEST_F(KeyFileTest, ReplaceSwapsTheKeysForLaterCalls) {
  auto [old_key, new_key] = two_keys();
  auto live = TokenCodec::from_key_file(write("k.keys", old_key + "\n"));
  ASSERT_TRUE(live);
  std::string before = live->encode(claims());
  // The three steps of a rotation, each a new reading of the file.
  for (std::string text : {old_key + "\n" + new_key + " verify-only\n", new_key + "\n" + old_key + " verify-only\n"}) {
    auto set = KeySet::read_file(write("k.keys", text));
    ASSERT_TRUE(set) << set.message();
    live->replace(set.value());
    EXPECT_TRUE(live->decode(before).has_value()) << text;
  }
  std::string after = live->encode(claims());
  EXPECT_TRUE(codec({key_from_hex(new_key)}).decode(after).has_value());
  auto last = KeySet::read_file(write("k.keys", new_key + "\n"));
  ASSERT_TRUE(last);
  live->replace(last.value());
  EXPECT_FALSE(live->decode(before).has_value());
  EXPECT_TRUE(live->decode(after).has_value());
}

TEST_F(KeyFileTest, DirectoryRefused) {
  std::string sub = dir_ + "/sub";
  ASSERT_EQ(::mkdir(sub.c_str(), 0700), 0);
  EXPECT_FALSE(TokenCodec::from_key_file(sub));
}

TEST(SessionIdTest, FromHexReadsWhatHexWritesAndNothingElse) {
  SessionId a = SessionId::random(), b;
  ASSERT_TRUE(SessionId::from_hex(a.hex(), &b));
  EXPECT_EQ(a, b);
  std::string h = a.hex();
  EXPECT_FALSE(SessionId::from_hex(h.substr(0, 31), &b));    // short
  EXPECT_FALSE(SessionId::from_hex(h + "00", &b));           // long
  EXPECT_FALSE(SessionId::from_hex("zz" + h.substr(2), &b));  // not hex
  EXPECT_FALSE(SessionId::from_hex("", &b));
}

}  // namespace
}  // namespace tether
