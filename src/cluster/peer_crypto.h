// The peer channel's cryptography (no I/O): how two workers of one cluster
// prove to each other that they hold the cluster key, agree on keys for one
// connection, and seal every message on it.
//
// Handshake (both messages sealed with XChaCha20-Poly1305-IETF under
// Kh = BLAKE2b(key: cluster key, "tether-peer-hello-v1"); the key id travels
// in clear and is associated data, so a key set in rotation finds the key):
//   client -> server  HELLO   "TPH1" kid | Nc (24 random bytes, the nonce) |
//                             seal(from route, to address, unix ms)
//   server -> client  WELCOME Ns (24 random bytes, the nonce) |
//                             seal(to address), associated data also Nc
// The server refuses a hello it cannot open, one for another worker (to is
// not its own peer address), one older or newer than 30 s, and one whose Nc
// it has seen in the last minute (a replay). The client refuses a welcome
// that does not open with its Nc: the server has proved it holds the key too.
//
// Connection keys: master = BLAKE2b(key: cluster key, "tether-peer-conn-v1"
// | Nc | Ns | from | to); one key per direction derived from master. Each
// message after the handshake is sealed with ChaCha20-Poly1305-IETF under
// its direction's key, with a counter as the nonce: a message replayed,
// dropped, reordered or moved to another connection does not open. Since Ns
// is fresh, a recorded connection replayed whole fails at its first message.
//
// Thread ownership: Cipher belongs to one connection (one thread at a time);
// HelloGuard is thread-safe; the functions are pure.
#pragma once
#include <sodium.h>

#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "common/result.h"
#include "token/token.h"

namespace tether::peer {

inline constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
inline constexpr int64_t kHelloWindowMs = 30000;
using Nonce = std::array<uint8_t, kNonceBytes>;

struct Hello {
  std::string from;  // the calling worker's route
  std::string to;    // the peer address it called
  int64_t time_ms = 0;
};

// One direction of one connection's messages.
class Cipher {
 public:
  Cipher() = default;
  ~Cipher();
  Cipher(Cipher&& o) noexcept;
  Cipher& operator=(Cipher&& o) noexcept;
  std::string seal(std::string_view plain);
  // False (and *plain unspecified) when sealed is not the next message.
  bool open(std::string_view sealed, std::string* plain);

 private:
  friend struct Handshake;
  std::array<uint8_t, crypto_aead_chacha20poly1305_ietf_KEYBYTES> key_{};
  uint64_t counter_ = 0;
};

struct ConnectionKeys {
  Cipher send;
  Cipher recv;
};

struct Handshake {
  // Client: the hello for `to`, sealed with keys's sealing key; *nc is its nonce.
  static std::string hello(const KeySet& keys, const Hello& h, Nonce* nc);
  // Server: opens a hello with the key its id names. Errors say why
  // (unknown key, does not open, malformed); the time and the destination
  // are the caller's to check. *kid, *nc: the key id and nonce it used.
  static Result<Hello> open_hello(const KeySet& keys, std::string_view wire, uint8_t* kid, Nonce* nc);
  // Server: the welcome answering nonce nc; *ns is the server's nonce.
  static std::string welcome(const TokenKey& key, const Nonce& nc, const std::string& to, Nonce* ns);
  // Client: checks the welcome; *ns the server's nonce.
  static Status open_welcome(const TokenKey& key, const Nonce& nc, const std::string& to, std::string_view wire,
                             Nonce* ns);
  // The connection's keys, from the client's (client = true) or the server's side.
  static ConnectionKeys keys(const TokenKey& key, const Nonce& nc, const Nonce& ns, const Hello& h, bool client);
};

// The server's memory of hello nonces seen within the window: a nonce seen
// twice is a replay. Bounded: at capacity the oldest are forgotten (a hello
// that old is refused by its time anyway, unless the window holds more than
// capacity hellos; then a replay of one of those is refused by the
// connection keys, since the attacker cannot open the welcome).
class HelloGuard {
 public:
  explicit HelloGuard(size_t capacity = 100000) : capacity_(capacity) {}
  // True the first time nc is shown (within the window); false for a replay.
  bool first_time(const Nonce& nc, int64_t now_ms);

 private:
  std::mutex mu_;
  size_t capacity_;
  std::deque<std::pair<int64_t, std::string>> order_;  // (seen at, nonce), oldest first
  std::unordered_set<std::string> seen_;
};

}  // namespace tether::peer
