// A token has one spelling (token.cpp's base64url decoder): bits past the
// last byte, a length of 1 mod 4, padding or a byte outside the alphabet
// make it invalid, although a lenient decoder would read the same bytes.
#include <gtest/gtest.h>
#include <sodium.h>

#include <stdexcept>
#include <string>

#include "token/token.h"

namespace tether {
namespace {

const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

TokenCodec make_codec() {
  uint8_t b[kTokenKeyBytes];
  randombytes_buf(b, sizeof b);
  auto r = TokenCodec::from_keys({TokenKey(b)});
  if (!r) throw std::runtime_error(r.message());
  return std::move(r.value());
}

TEST(TokenSpellingTest, BitsPastTheLastByteAreRefused) {
  ASSERT_GE(sodium_init(), 0);
  TokenCodec codec = make_codec();
  int tried = 0;
  // Hosts of several lengths: the base64 text ends with 2 or 4 spare bits for some.
  for (std::string host : {"h", "h1", "h12", "h123"}) {
    std::string token = codec.encode(TokenClaims{SessionId::random(), host, 1, 1700000000});
    ASSERT_TRUE(codec.decode(token));
    size_t b64 = token.size() - token.find('.') - 1;
    int spare = static_cast<int>(b64 * 6 % 8);  // bits of the last digit past the last byte
    if (spare == 0) continue;
    size_t d = kAlphabet.find(token.back());
    ASSERT_NE(d, std::string::npos);
    ASSERT_EQ(d & 1, 0u) << "the encoder wrote a spare bit";
    std::string other = token;
    other.back() = kAlphabet[d | 1];  // the same bytes to a lenient decoder
    EXPECT_FALSE(codec.decode(other)) << host;
    tried++;
  }
  EXPECT_GT(tried, 0);
}

TEST(TokenSpellingTest, PaddingAndAStrayDigitAreRefused) {
  ASSERT_GE(sodium_init(), 0);
  TokenCodec codec = make_codec();
  std::string token = codec.encode(TokenClaims{SessionId::random(), "h1", 1, 1700000000});
  ASSERT_TRUE(codec.decode(token));
  EXPECT_FALSE(codec.decode(token + "="));
  EXPECT_FALSE(codec.decode(token + "=="));
  EXPECT_FALSE(codec.decode(token + "A"));   // one digit more: 1 mod 4, or bytes the tag refuses
  EXPECT_FALSE(codec.decode(token + "AA"));
  EXPECT_FALSE(codec.decode(token.substr(0, token.size() - 1) + "+"));  // base64 (not url) digit
  EXPECT_FALSE(codec.decode(token.substr(0, token.size() - 1) + "\xc3"));
}

}  // namespace
}  // namespace tether
