// CsrfTokens (see csrf.h).
#include "ops/csrf.h"

#include <sodium.h>

#include <array>

namespace tether {
namespace {

constexpr const char kContext[] = "tether-admin-csrf-v1";
constexpr size_t kSignedBytes = 8 + 16;  // issued | random
constexpr size_t kBlobBytes = kSignedBytes + crypto_auth_hmacsha256_BYTES;
static_assert(kCsrfTokenChars == (kBlobBytes * 4 + 2) / 3, "base64url without padding");

// The CSRF key of one cluster key; wiped when it goes.
class DerivedKey {
 public:
  explicit DerivedKey(const TokenKey& k) {
    crypto_generichash(key_.data(), key_.size(), reinterpret_cast<const uint8_t*>(kContext), sizeof kContext - 1,
                       k.bytes(), kTokenKeyBytes);
  }
  ~DerivedKey() { sodium_memzero(key_.data(), key_.size()); }
  DerivedKey(const DerivedKey&) = delete;
  DerivedKey& operator=(const DerivedKey&) = delete;
  const uint8_t* data() const { return key_.data(); }

 private:
  std::array<uint8_t, crypto_auth_hmacsha256_KEYBYTES> key_;
};

}  // namespace

std::string CsrfTokens::issue(int64_t now) const {
  std::array<uint8_t, kBlobBytes> blob{};
  auto issued = static_cast<uint64_t>(now);
  for (int i = 0; i < 8; ++i) blob[static_cast<size_t>(i)] = static_cast<uint8_t>(issued >> (56 - 8 * i));
  randombytes_buf(blob.data() + 8, 16);
  auto keys = codec_.keys();
  DerivedKey key(keys->sealing());
  crypto_auth_hmacsha256(blob.data() + kSignedBytes, blob.data(), kSignedBytes, key.data());
  std::string out(sodium_base64_ENCODED_LEN(kBlobBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), blob.data(), blob.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(kCsrfTokenChars);
  return out;
}

std::optional<std::string> CsrfTokens::verify(std::string_view token, int64_t now) const {
  if (token.empty()) return "missing";
  if (token.size() != kCsrfTokenChars) return "malformed";
  std::array<uint8_t, kBlobBytes> blob{};
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(blob.data(), blob.size(), token.data(), token.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      len != kBlobBytes || end != token.data() + token.size()) {
    return "malformed";
  }
  uint64_t issued = 0;
  for (size_t i = 0; i < 8; ++i) issued = (issued << 8) | blob[i];
  // Compared as unsigned differences: a forged huge 'issued' cannot overflow.
  auto unow = static_cast<uint64_t>(now);
  if (issued > unow + static_cast<uint64_t>(kCsrfSkew_s)) return "from the future";
  if (issued < unow && unow - issued > static_cast<uint64_t>(lifetime_s_)) return "expired";
  auto keys = codec_.keys();
  for (const auto& k : keys->keys) {
    DerivedKey key(k);
    if (crypto_auth_hmacsha256_verify(blob.data() + kSignedBytes, blob.data(), kSignedBytes, key.data()) == 0) {
      return std::nullopt;
    }
  }
  return "does not verify";
}

}  // namespace tether
