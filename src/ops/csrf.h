// CsrfTokens: the per-page token the admin page's actions must carry
// (header X-Tether-CSRF). GET /tether/admin embeds a fresh one; a POST
// without a token that verifies is refused. nginx sends the page and the
// POST to different workers, so the token is signed with a key every
// worker of the cluster holds: derived from each key of the cluster key set
// (the token key file) as BLAKE2b keyed by that key over
// "tether-admin-csrf-v1", so it is no token key and no peer key.
//
//   token = base64url(issued (u64 big-endian unix s) | random (16 bytes) |
//                     HMAC-SHA256(derived sealing key, issued | random))
//
// 75 characters. It verifies with any key of the set (a rotation keeps open
// pages working while both keys are there), for lifetime_s after issued
// (and up to kCsrfSkew_s before it, for clocks of other hosts). The key set
// is read per call (keys() may be replaced by a SIGHUP at any time).
// Thread safety: immutable; issue/verify from any thread.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "token/token.h"

namespace tether {

inline constexpr int64_t kCsrfLifetime_s = 12 * 3600;
inline constexpr int64_t kCsrfSkew_s = 300;
inline constexpr size_t kCsrfTokenChars = 75;

class CsrfTokens {
 public:
  explicit CsrfTokens(const TokenCodec& codec, int64_t lifetime_s = kCsrfLifetime_s)
      : codec_(codec), lifetime_s_(lifetime_s) {}

  // A fresh token issued at now (unix seconds).
  std::string issue(int64_t now) const;
  // nullopt when token is one issue() made with a key of the set now, at
  // most lifetime_s ago; else why not ("missing", "malformed", "expired",
  // "from the future", "does not verify").
  std::optional<std::string> verify(std::string_view token, int64_t now) const;

 private:
  const TokenCodec& codec_;
  int64_t lifetime_s_;
};

}  // namespace tether
