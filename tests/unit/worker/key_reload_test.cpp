// Tests the key-file part of a worker's reload (worker/key_reload.h): a
// good file swaps the keys for later tokens; a bad one (malformed, missing,
// without a sealing key, readable by others) changes nothing.
#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "worker/key_reload.h"

namespace tether {
namespace {

class KeyReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    char tmpl[] = "/tmp/tether_key_reload_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/keys";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(const std::string& text, mode_t mode = 0600) {
    std::filesystem::remove(path_);
    std::ofstream(path_) << text;
    ASSERT_EQ(::chmod(path_.c_str(), mode), 0);
  }
  static std::string random_hex() {
    uint8_t b[kTokenKeyBytes];
    randombytes_buf(b, sizeof b);
    char hex[2 * kTokenKeyBytes + 1];
    sodium_bin2hex(hex, sizeof hex, b, sizeof b);
    return hex;
  }
  static uint8_t id_of(const std::string& hex) {
    uint8_t b[kTokenKeyBytes];
    sodium_hex2bin(b, sizeof b, hex.data(), hex.size(), nullptr, nullptr, nullptr);
    return TokenKey(b).id();
  }
  static TokenClaims claims() {
    TokenClaims c;
    randombytes_buf(c.sid.bytes.data(), c.sid.bytes.size());
    c.host = "h1";
    c.worker = 2;
    c.issued = 1700000000;
    return c;
  }
  // Two keys with distinct ids, as hex.
  static void two_keys(std::string* old_key, std::string* new_key) {
    *old_key = random_hex();
    do *new_key = random_hex();
    while (id_of(*new_key) == id_of(*old_key));
  }
  std::string dir_, path_;
};

TEST_F(KeyReloadTest, BadKeyFileKeepsTheOldKeys) {
  std::string old_key, new_key;
  two_keys(&old_key, &new_key);
  write(old_key + "\n");
  auto codec = TokenCodec::from_key_file(path_);
  ASSERT_TRUE(codec) << codec.message();
  std::string before = codec->encode(claims());
  auto keys_before = codec->keys();
  struct Bad {
    std::string text;
    mode_t mode;
    const char* says;
  };
  for (const Bad& bad : {Bad{old_key.substr(0, 60) + "\n", 0600, "64 hex digits"},
                         Bad{new_key + " verify-only\n", 0600, "one key must seal"},
                         Bad{new_key + " seal\n", 0600, "verify-only"},
                         Bad{"# nothing\n", 0600, "no key"},
                         Bad{new_key + "\n", 0644, "readable"}}) {
    SCOPED_TRACE(bad.text);
    write(bad.text, bad.mode);
    Status s = reload_keys(*codec, path_);
    ASSERT_FALSE(s);
    EXPECT_NE(s.message().find(path_), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(bad.says), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find(new_key), std::string::npos) << "a key in the error";
    EXPECT_EQ(codec->keys(), keys_before);  // the same set, untouched
    EXPECT_TRUE(codec->decode(before).has_value());
  }
  std::filesystem::remove(path_);
  EXPECT_FALSE(reload_keys(*codec, path_));  // missing
  EXPECT_EQ(codec->keys(), keys_before);
  EXPECT_EQ(codec->keys()->sealing().id(), id_of(old_key));
}

TEST_F(KeyReloadTest, GoodKeyFileSwapsTheKeys) {
  std::string old_key, new_key;
  two_keys(&old_key, &new_key);
  write(old_key + "\n");
  auto codec = TokenCodec::from_key_file(path_);
  ASSERT_TRUE(codec) << codec.message();
  std::string before = codec->encode(claims());
  // Step 2 of a rotation: the new key seals, the old one opens.
  write(old_key + " verify-only\n" + new_key + "\n");
  ASSERT_TRUE(reload_keys(*codec, path_));
  EXPECT_EQ(codec->keys()->sealing().id(), id_of(new_key));
  EXPECT_TRUE(codec->decode(before).has_value());
  // Step 3: the old key dropped.
  write(new_key + "\n");
  ASSERT_TRUE(reload_keys(*codec, path_));
  EXPECT_FALSE(codec->decode(before).has_value());
  EXPECT_TRUE(codec->decode(codec->encode(claims())).has_value());
}

}  // namespace
}  // namespace tether
