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
// Keys come from the key file (key_file.cpp): one key per line, 64 hex
// digits, optionally followed by the word "verify-only". The first key not
// so marked seals; every key opens. That makes rotation on a live cluster a
// three-step edit with a SIGHUP (replace()) after each: add the new key as
// verify-only everywhere, move the mark to the old key everywhere, drop the
// old key after lifetime_s.
//
// Thread safety: encode, decode and keys() may be called from any thread at
// once and take no lock: they read the key set now through one atomic
// pointer (acquire). replace() (SIGHUP; replaces serialized by a mutex of
// their own) installs a new set with one store (release); a call in
// progress finishes with the set it started with. Every set ever installed
// stays alive, and its keys in memory, until the codec is destroyed (at
// exit): a reader holds no reference, so none can be let go earlier. Key
// sets are replaced by hand, rarely; each costs ~100 bytes a key.
#pragma once
#include <sodium.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
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
  explicit TokenKey(const uint8_t* bytes, bool verify_only = false);
  ~TokenKey();
  TokenKey(const TokenKey& o);
  TokenKey& operator=(const TokenKey&) = delete;
  uint8_t id() const { return id_; }
  const uint8_t* bytes() const { return key_.data(); }
  bool verify_only() const { return verify_only_; }
  std::string id_hex() const;  // "3f": how status and tetherctl name the key

 private:
  std::array<uint8_t, kTokenKeyBytes> key_;
  uint8_t id_;  // first byte of BLAKE2b(key): names the key in tokens
  bool verify_only_ = false;
};

// One reading of the key file: keys[0] seals, every key opens. Ids are
// distinct. Peer channel keys derive from the same set (cluster/).
struct KeySet {
  std::vector<TokenKey> keys;
  const TokenKey* find(uint8_t id) const;  // null if no key has that id
  const TokenKey& sealing() const { return keys.front(); }
  // Checks and orders keys: not empty, ids distinct, one key not verify-only
  // (the first of those goes first).
  static Result<std::shared_ptr<const KeySet>> make(std::vector<TokenKey> keys);
  // Reads a key file (see above). Refused when missing, malformed, empty,
  // without a sealing key, or readable by group or others.
  static Result<std::shared_ptr<const KeySet>> read_file(const std::string& path);
};

class TokenCodec {
 public:
  // The first key not verify-only seals; every key opens (KeySet::make).
  static Result<TokenCodec> from_keys(std::vector<TokenKey> keys);
  // KeySet::read_file's keys.
  static Result<TokenCodec> from_key_file(const std::string& path);
  TokenCodec(TokenCodec&& o) noexcept;
  TokenCodec& operator=(TokenCodec&&) = delete;

  [[nodiscard]] std::string encode(const TokenClaims& claims) const;
  // nullopt for anything that is not a token this codec made, unaltered.
  [[nodiscard]] std::optional<TokenClaims> decode(std::string_view token) const;
  // The route part of a token ("" if it has none), without decrypting.
  static std::string_view route_of(std::string_view token);

  // The keys now, the sealing one first (peer keys derive from them).
  std::shared_ptr<const KeySet> keys() const { return current_.load(std::memory_order_acquire)->set; }
  // From now on, encode seals with keys's sealing key and decode opens with
  // keys's keys only (SIGHUP: the key file read again).
  void replace(std::shared_ptr<const KeySet> keys);

 private:
  explicit TokenCodec(std::shared_ptr<const KeySet> keys);
  // The set a request uses, without a reference count.
  const KeySet& now() const { return *current_.load(std::memory_order_acquire)->set; }
  struct Installed {  // one set as installed; never freed before the codec
    std::shared_ptr<const KeySet> set;
  };
  std::mutex replace_mu_;                               // replace() only
  std::vector<std::unique_ptr<const Installed>> installed_;  // every set installed, the last one current
  std::atomic<const Installed*> current_{nullptr};
};

}  // namespace tether
