// SessionId: 128 random bits naming one session. A plain value type.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>

namespace tether {

struct SessionId {
  std::array<uint8_t, 16> bytes{};

  static SessionId random();  // libsodium randombytes_buf
  std::string hex() const;    // 32 lower-case hex digits
  // The inverse of hex(): false unless hex is exactly 32 hex digits.
  static bool from_hex(const std::string& hex, SessionId* out);
  bool operator==(const SessionId& o) const { return bytes == o.bytes; }
  bool operator!=(const SessionId& o) const { return bytes != o.bytes; }
};

struct SessionIdHash {
  size_t operator()(const SessionId& id) const {
    size_t h;  // the id is random: any 8 of its bytes are a good hash
    std::memcpy(&h, id.bytes.data(), sizeof h);
    return h;
  }
};

}  // namespace tether
