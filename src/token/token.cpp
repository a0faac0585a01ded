// Session token encoding and decoding (see token.h).
#include "token/token.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace tether {
namespace {

constexpr uint8_t kPayloadV1 = 1;  // no epoch
constexpr uint8_t kPayloadV2 = 2;  // with epoch
constexpr size_t kEpochBytes = 4;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kFixedPayload = 1 + 16 + 2 + 8;

void put_be(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
}
uint64_t get_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// base64url without padding, into out (cap bytes). Strict, so that a token
// has one spelling: only the alphabet (a byte >= 0x80 is no digit), a length
// that is not 1 mod 4, and zero bits after the last whole byte. A table, not
// libsodium's constant-time decoder: a token is no secret (its holder sent
// it), and this runs once per request that carries one.
constexpr std::array<int8_t, 256> kB64Digit = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(abc[i])] = static_cast<int8_t>(i);
  return t;
}();

bool b64url_decode(std::string_view in, uint8_t* out, size_t cap, size_t* len) {
  if (in.size() % 4 == 1 || in.size() / 4 * 3 + 2 > cap) return false;
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0;
  for (char ch : in) {
    int8_t d = kB64Digit[static_cast<uint8_t>(ch)];
    if (d < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return false;  // bits past the last byte: another spelling of the same bytes
  *len = n;
  return true;
}

// Associated data: the route, a separator that cannot occur in a route, the key id.
std::string associated_data(std::string_view route, uint8_t kid) {
  std::string ad(route);
  ad.push_back('\0');
  ad.push_back(static_cast<char>(kid));
  return ad;
}

}  // namespace

SessionId SessionId::random() {
  SessionId id;
  randombytes_buf(id.bytes.data(), id.bytes.size());
  return id;
}

std::string SessionId::hex() const {
  char out[33];
  sodium_bin2hex(out, sizeof out, bytes.data(), bytes.size());
  return std::string(out, 32);
}

bool SessionId::from_hex(const std::string& hex, SessionId* out) {
  size_t len = 0;
  return sodium_hex2bin(out->bytes.data(), out->bytes.size(), hex.c_str(), hex.size(), nullptr, &len, nullptr) == 0 &&
         len == out->bytes.size();
}

TokenKey::TokenKey(const uint8_t* bytes, bool verify_only) : verify_only_(verify_only) {
  std::memcpy(key_.data(), bytes, key_.size());
  uint8_t digest[crypto_generichash_BYTES];
  crypto_generichash(digest, sizeof digest, key_.data(), key_.size(), nullptr, 0);
  id_ = digest[0];
  sodium_memzero(digest, sizeof digest);
}
TokenKey::TokenKey(const TokenKey& o) : key_(o.key_), id_(o.id_), verify_only_(o.verify_only_) {}
TokenKey::~TokenKey() { sodium_memzero(key_.data(), key_.size()); }

std::string TokenKey::id_hex() const {
  static const char* digits = "0123456789abcdef";
  return std::string{digits[id_ >> 4], digits[id_ & 15]};
}

const TokenKey* KeySet::find(uint8_t id) const {
  for (const auto& k : keys) {
    if (k.id() == id) return &k;
  }
  return nullptr;
}

Result<std::shared_ptr<const KeySet>> KeySet::make(std::vector<TokenKey> keys) {
  using R = Result<std::shared_ptr<const KeySet>>;
  if (keys.empty()) return R::error("no keys");
  for (size_t i = 0; i < keys.size(); ++i) {
    for (size_t j = i + 1; j < keys.size(); ++j) {
      if (keys[i].id() == keys[j].id()) {
        return R::error("keys " + std::to_string(i + 1) + " and " + std::to_string(j + 1) +
                        " have the same key id; generate another key");
      }
    }
  }
  auto sealing = std::find_if(keys.begin(), keys.end(), [](const TokenKey& k) { return !k.verify_only(); });
  if (sealing == keys.end()) return R::error("every key is verify-only; one key must seal");
  auto set = std::make_shared<KeySet>();  // the sealing key first, the others in file order
  set->keys.reserve(keys.size());
  set->keys.push_back(*sealing);
  for (auto it = keys.begin(); it != keys.end(); ++it) {
    if (it != sealing) set->keys.push_back(*it);
  }
  return std::shared_ptr<const KeySet>(std::move(set));
}

TokenCodec::TokenCodec(std::shared_ptr<const KeySet> keys) { replace(std::move(keys)); }

TokenCodec::TokenCodec(TokenCodec&& o) noexcept
    : installed_(std::move(o.installed_)), current_(o.current_.load(std::memory_order_acquire)) {}

void TokenCodec::replace(std::shared_ptr<const KeySet> keys) {
  std::lock_guard lock(replace_mu_);
  installed_.push_back(std::make_unique<const Installed>(Installed{std::move(keys)}));
  current_.store(installed_.back().get(), std::memory_order_release);
}

Result<TokenCodec> TokenCodec::from_keys(std::vector<TokenKey> keys) {
  auto set = KeySet::make(std::move(keys));
  if (!set) return Result<TokenCodec>::error(set.message());
  return TokenCodec(std::move(set.value()));
}

std::string TokenCodec::encode(const TokenClaims& c) const {
  const TokenKey& key = now().sealing();
  std::string route = make_route(c.host, c.worker);
  size_t host_len = std::min(c.host.size(), kTokenMaxHostBytes);
  uint8_t payload[kFixedPayload + kEpochBytes + kTokenMaxHostBytes];
  bool with_epoch = c.epoch > 1;
  payload[0] = with_epoch ? kPayloadV2 : kPayloadV1;
  std::memcpy(payload + 1, c.sid.bytes.data(), 16);
  put_be(payload + 17, static_cast<uint64_t>(c.worker), 2);
  put_be(payload + 19, static_cast<uint64_t>(c.issued), 8);
  size_t fixed = kFixedPayload;
  if (with_epoch) {
    put_be(payload + fixed, static_cast<uint64_t>(std::min<int64_t>(c.epoch, UINT32_MAX)), kEpochBytes);
    fixed += kEpochBytes;
  }
  std::memcpy(payload + fixed, c.host.data(), host_len);
  size_t payload_len = fixed + host_len;

  uint8_t blob[1 + kNonceBytes + sizeof payload + kTagBytes];
  blob[0] = key.id();
  randombytes_buf(blob + 1, kNonceBytes);
  std::string ad = associated_data(route, key.id());
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(blob + 1 + kNonceBytes, &ct_len, payload, payload_len,
                                             reinterpret_cast<const uint8_t*>(ad.data()), ad.size(), nullptr,
                                             blob + 1, key.bytes());
  sodium_memzero(payload, sizeof payload);
  size_t blob_len = 1 + kNonceBytes + ct_len;
  std::string out = route + ".";
  size_t b64_len = sodium_base64_encoded_len(blob_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  std::string b64(b64_len, '\0');
  sodium_bin2base64(b64.data(), b64_len, blob, blob_len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  b64.resize(b64_len - 1);  // drop the terminating NUL
  return out + b64;
}

std::string_view TokenCodec::route_of(std::string_view token) {
  size_t dot = token.find('.');
  return dot == std::string_view::npos ? std::string_view() : token.substr(0, dot);
}

std::optional<TokenClaims> TokenCodec::decode(std::string_view token) const {
  if (token.size() > kTokenMaxLength) return std::nullopt;
  size_t dot = token.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::string_view route = token.substr(0, dot);
  std::string_view b64 = token.substr(dot + 1);

  uint8_t blob[kTokenMaxLength];
  size_t blob_len = 0;
  if (!b64url_decode(b64, blob, sizeof blob, &blob_len)) return std::nullopt;
  if (blob_len < 1 + kNonceBytes + kTagBytes + kFixedPayload) return std::nullopt;
  const TokenKey* key = now().find(blob[0]);
  if (key == nullptr) return std::nullopt;

  std::string ad = associated_data(route, key->id());
  uint8_t payload[kTokenMaxLength];
  unsigned long long payload_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(payload, &payload_len, nullptr, blob + 1 + kNonceBytes,
                                                 blob_len - 1 - kNonceBytes,
                                                 reinterpret_cast<const uint8_t*>(ad.data()), ad.size(),
                                                 blob + 1, key->bytes()) != 0) {
    return std::nullopt;
  }
  std::optional<TokenClaims> out;
  size_t fixed = payload_len >= 1 && payload[0] == kPayloadV2 ? kFixedPayload + kEpochBytes : kFixedPayload;
  if (payload_len >= fixed && (payload[0] == kPayloadV1 || payload[0] == kPayloadV2) &&
      payload_len - fixed <= kTokenMaxHostBytes) {
    TokenClaims c;
    std::memcpy(c.sid.bytes.data(), payload + 1, 16);
    c.worker = static_cast<int>(get_be(payload + 17, 2));
    c.issued = static_cast<int64_t>(get_be(payload + 19, 8));
    if (payload[0] == kPayloadV2) c.epoch = static_cast<int64_t>(get_be(payload + kFixedPayload, kEpochBytes));
    c.host.assign(reinterpret_cast<const char*>(payload + fixed), payload_len - fixed);
    // Authenticated already; a mismatch means a bug or a forged key, not noise.
    if (route_is(route, c.host, c.worker)) out = std::move(c);
  }
  sodium_memzero(payload, sizeof payload);
  return out;
}

}  // namespace tether
