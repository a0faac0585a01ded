// Session tokens: the value of the tether_sid cookie.
//
//   <route>.<base64url(kid | nonce | XChaCha20-Poly1305-IETF(payload))>
//
// route is "{host}-{worker}" (nginx routes on it); kid is one byte naming the
// key. route and kid are the associated data, so neither can be altered
// unnoticed. payload = version(1) | session id(16) | worker(u16) |
// issued(unix s, u64) | [epoch(u32), version 2 only] | host id. The epoch
// is the session's ownership generation when the token was issued (see
// worker/session_route.h): version 1 (no epoch, decoded as 0) is written
// while the epoch is 1, so tokens of sessions that never moved stay
// readable by workers that predate version 2. Decoding has one failure
// outcome, "invalid", whatever the cause. Keys are wiped on destruction.
//
// Thread safety: a TokenCodec is immutable after construction; encode and
// decode may be called from any thread at once.
#pragma once
#include <sodium.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/route.h"
#include "token/session_id.h"

namespace tether {

inline constexpr size_t kTokenKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
inline constexpr size_t kTokenMaxHostBytes = 32;
inline constexpr size_t kTokenMaxLength = 256;  // longer cookies are invalid at once

struct TokenClaims {
  SessionId sid;
  std::string host;
  int worker = 0;
  int64_t issued = 0;  // unix seconds
  int64_t epoch = 0;   // ownership generation (0: a version-1 token, which says nothing)
};

class TokenKey {
 public:
  explicit TokenKey(const uint8_t* bytes);
  ~TokenKey();
  TokenKey(const TokenKey& o);
  TokenKey& operator=(const TokenKey&) = delete;
  uint8_t id() const { return id_; }
  const uint8_t* bytes() const { return key_.data(); }

 private:
  std::array<uint8_t, kTokenKeyBytes> key_;
  uint8_t id_;  // first byte of BLAKE2b(key): names the key in tokens
};

class TokenCodec {
 public:
  // keys[0] encrypts; every key decrypts. Key ids must be distinct.
  static Result<TokenCodec> from_keys(std::vector<TokenKey> keys);
  // Reads a key file: one key per line as 64 hex digits; '#' starts a
  // comment. Refused when missing, malformed, empty, or readable by group or
  // others.
  static Result<TokenCodec> from_key_file(const std::string& path);

  [[nodiscard]] std::string encode(const TokenClaims& claims) const;
  // nullopt for anything that is not a token this codec made, unaltered.
  [[nodiscard]] std::optional<TokenClaims> decode(std::string_view token) const;
  // The route part of a token ("" if it has none), without decrypting.
  static std::string_view route_of(std::string_view token);

  // Every key, the sealing one first (peer authentication derives from them).
  const std::vector<TokenKey>& keys() const { return keys_; }

 private:
  explicit TokenCodec(std::vector<TokenKey> keys) : keys_(std::move(keys)) {}
  std::vector<TokenKey> keys_;
};

}  // namespace tether
