// The peer channel's handshake, connection keys and message sealing (see peer_crypto.h).
#include "cluster/peer_crypto.h"

#include <cstring>

namespace tether::peer {
namespace {

constexpr char kHelloMagic[] = "TPH1";
constexpr char kWelcomeMagic[] = "TPW1";
constexpr size_t kMagicBytes = 4;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kMaxName = 255;  // a route or an address

using Key32 = std::array<uint8_t, 32>;

// A key derived from the cluster key for one use, named by label.
Key32 derive(const TokenKey& key, std::string_view label) {
  Key32 out;
  crypto_generichash(out.data(), out.size(), reinterpret_cast<const uint8_t*>(label.data()), label.size(),
                     key.bytes(), kTokenKeyBytes);
  return out;
}

void put_text(std::string& out, const std::string& s) {
  out.push_back(static_cast<char>(s.size()));
  out += s;
}

bool get_text(std::string_view& in, std::string* s) {
  if (in.empty()) return false;
  size_t n = static_cast<uint8_t>(in[0]);
  if (in.size() < 1 + n) return false;
  s->assign(in.substr(1, n));
  in.remove_prefix(1 + n);
  return true;
}

std::string seal_x(const Key32& k, const Nonce& nonce, std::string_view plain, std::string_view ad) {
  std::string out(plain.size() + kTagBytes, '\0');
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<uint8_t*>(out.data()), &len, reinterpret_cast<const uint8_t*>(plain.data()), plain.size(),
      reinterpret_cast<const uint8_t*>(ad.data()), ad.size(), nullptr, nonce.data(), k.data());
  out.resize(len);
  return out;
}

bool open_x(const Key32& k, const Nonce& nonce, std::string_view sealed, std::string_view ad, std::string* plain) {
  if (sealed.size() < kTagBytes) return false;
  plain->resize(sealed.size() - kTagBytes);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<uint8_t*>(plain->data()), &len, nullptr, reinterpret_cast<const uint8_t*>(sealed.data()),
          sealed.size(), reinterpret_cast<const uint8_t*>(ad.data()), ad.size(), nonce.data(), k.data()) != 0) {
    return false;
  }
  plain->resize(len);
  return true;
}

std::string welcome_ad(uint8_t kid, const Nonce& nc) {
  std::string ad(kWelcomeMagic, kMagicBytes);
  ad.push_back(static_cast<char>(kid));
  ad.append(reinterpret_cast<const char*>(nc.data()), nc.size());
  return ad;
}

}  // namespace

Cipher::~Cipher() { sodium_memzero(key_.data(), key_.size()); }
Cipher::Cipher(Cipher&& o) noexcept : key_(o.key_), counter_(o.counter_) { sodium_memzero(o.key_.data(), o.key_.size()); }
Cipher& Cipher::operator=(Cipher&& o) noexcept {
  key_ = o.key_;
  counter_ = o.counter_;
  sodium_memzero(o.key_.data(), o.key_.size());
  return *this;
}

std::string Cipher::seal(std::string_view plain) {
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
  uint64_t n = counter_++;
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(n >> (8 * i));
  std::string out(plain.size() + crypto_aead_chacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long len = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<uint8_t*>(out.data()), &len,
                                            reinterpret_cast<const uint8_t*>(plain.data()), plain.size(), nullptr, 0,
                                            nullptr, nonce, key_.data());
  out.resize(len);
  return out;
}

bool Cipher::open(std::string_view sealed, std::string* plain) {
  if (sealed.size() < crypto_aead_chacha20poly1305_ietf_ABYTES) return false;
  uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES] = {};
  for (int i = 0; i < 8; ++i) nonce[i] = static_cast<uint8_t>(counter_ >> (8 * i));
  plain->resize(sealed.size() - crypto_aead_chacha20poly1305_ietf_ABYTES);
  unsigned long long len = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(reinterpret_cast<uint8_t*>(plain->data()), &len, nullptr,
                                                reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size(),
                                                nullptr, 0, nonce, key_.data()) != 0) {
    return false;
  }
  ++counter_;  // only a message that opened moves the counter on
  plain->resize(len);
  return true;
}

std::string Handshake::hello(const KeySet& keys, const Hello& h, Nonce* nc) {
  const TokenKey& key = keys.sealing();
  randombytes_buf(nc->data(), nc->size());
  std::string plain;
  put_text(plain, h.from.substr(0, kMaxName));
  put_text(plain, h.to.substr(0, kMaxName));
  for (int i = 7; i >= 0; --i) plain.push_back(static_cast<char>(static_cast<uint64_t>(h.time_ms) >> (8 * i)));
  std::string wire(kHelloMagic, kMagicBytes);
  wire.push_back(static_cast<char>(key.id()));
  std::string ad = wire;
  wire.append(reinterpret_cast<const char*>(nc->data()), nc->size());
  Key32 kh = derive(key, "tether-peer-hello-v1");
  wire += seal_x(kh, *nc, plain, ad);
  sodium_memzero(kh.data(), kh.size());
  return wire;
}

Result<Hello> Handshake::open_hello(const KeySet& keys, std::string_view wire, uint8_t* kid, Nonce* nc) {
  using R = Result<Hello>;
  if (wire.size() < kMagicBytes + 1 + kNonceBytes + kTagBytes || wire.substr(0, kMagicBytes) != kHelloMagic) {
    return R::error("not a peer hello (another protocol, or garbage)");
  }
  *kid = static_cast<uint8_t>(wire[kMagicBytes]);
  const TokenKey* key = keys.find(*kid);
  if (key == nullptr) return R::error("the hello names a key this worker does not hold");
  std::memcpy(nc->data(), wire.data() + kMagicBytes + 1, kNonceBytes);
  std::string_view ad = wire.substr(0, kMagicBytes + 1);
  std::string plain;
  Key32 kh = derive(*key, "tether-peer-hello-v1");
  bool opened = open_x(kh, *nc, wire.substr(kMagicBytes + 1 + kNonceBytes), ad, &plain);
  sodium_memzero(kh.data(), kh.size());
  if (!opened) return R::error("the hello does not open with the cluster key");
  Hello h;
  std::string_view in = plain;
  if (!get_text(in, &h.from) || !get_text(in, &h.to) || in.size() != 8) return R::error("malformed hello");
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) t = (t << 8) | static_cast<uint8_t>(in[i]);
  h.time_ms = static_cast<int64_t>(t);
  return h;
}

std::string Handshake::welcome(const TokenKey& key, const Nonce& nc, const std::string& to, Nonce* ns) {
  randombytes_buf(ns->data(), ns->size());
  Key32 kh = derive(key, "tether-peer-hello-v1");
  std::string wire(reinterpret_cast<const char*>(ns->data()), ns->size());
  wire += seal_x(kh, *ns, to, welcome_ad(key.id(), nc));
  sodium_memzero(kh.data(), kh.size());
  return wire;
}

Status Handshake::open_welcome(const TokenKey& key, const Nonce& nc, const std::string& to, std::string_view wire,
                               Nonce* ns) {
  if (wire.size() < kNonceBytes + kTagBytes) return Status::error("the welcome is too short");
  std::memcpy(ns->data(), wire.data(), kNonceBytes);
  Key32 kh = derive(key, "tether-peer-hello-v1");
  std::string plain;
  bool opened = open_x(kh, *ns, wire.substr(kNonceBytes), welcome_ad(key.id(), nc), &plain);
  sodium_memzero(kh.data(), kh.size());
  if (!opened) return Status::error("the welcome does not open: the peer does not hold the cluster key");
  if (plain != to) return Status::error("the welcome is for another address");
  return Status::ok();
}

ConnectionKeys Handshake::keys(const TokenKey& key, const Nonce& nc, const Nonce& ns, const Hello& h, bool client) {
  static constexpr char kLabel[] = "tether-peer-conn-v1";
  Key32 master;
  crypto_generichash_state st;
  crypto_generichash_init(&st, key.bytes(), kTokenKeyBytes, master.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kLabel), sizeof kLabel - 1);
  crypto_generichash_update(&st, nc.data(), nc.size());
  crypto_generichash_update(&st, ns.data(), ns.size());
  std::string names;
  put_text(names, h.from.substr(0, kMaxName));
  put_text(names, h.to.substr(0, kMaxName));
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(names.data()), names.size());
  crypto_generichash_final(&st, master.data(), master.size());
  ConnectionKeys out;
  Cipher c2s, s2c;
  crypto_generichash(c2s.key_.data(), c2s.key_.size(), reinterpret_cast<const uint8_t*>("c2s"), 3, master.data(),
                     master.size());
  crypto_generichash(s2c.key_.data(), s2c.key_.size(), reinterpret_cast<const uint8_t*>("s2c"), 3, master.data(),
                     master.size());
  sodium_memzero(master.data(), master.size());
  out.send = client ? std::move(c2s) : std::move(s2c);
  out.recv = client ? std::move(s2c) : std::move(c2s);
  return out;
}

bool HelloGuard::first_time(const Nonce& nc, int64_t now_ms) {
  std::string key(reinterpret_cast<const char*>(nc.data()), nc.size());
  std::lock_guard<std::mutex> lock(mu_);
  // Forget what is older than twice the window (a hello that old is refused by its time).
  while (!order_.empty() && (order_.front().first < now_ms - 2 * kHelloWindowMs || order_.size() >= capacity_)) {
    seen_.erase(order_.front().second);
    order_.pop_front();
  }
  if (!seen_.insert(key).second) return false;
  order_.emplace_back(now_ms, std::move(key));
  return true;
}

}  // namespace tether::peer
