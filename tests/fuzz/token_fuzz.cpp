// Fuzzes session token decoding (src/token). Two modes, by the first byte:
//  even: the rest is a cookie value; decode must refuse it (no input can be
//        sealed with the fuzzer's secret keys) and never crash.
//  odd:  claims taken from the input are sealed, the token is altered at
//        input-chosen positions, and decoding must give the claims back for
//        the unaltered token and refuse every altered one.
#include <sodium.h>

#include <cstdlib>
#include <cstring>

#include "fuzz_input.h"
#include "token/token.h"

namespace {

using tether::TokenCodec;

const TokenCodec& codec() {
  static const TokenCodec c = [] {
    if (sodium_init() < 0) std::abort();
    std::vector<tether::TokenKey> keys;
    for (uint8_t seed : {1, 2}) {  // two keys: one seals, both open (rotation)
      uint8_t k[tether::kTokenKeyBytes];
      std::memset(k, seed, sizeof k);
      keys.emplace_back(k);
    }
    auto r = TokenCodec::from_keys(std::move(keys));
    if (!r) std::abort();
    return std::move(r.value());
  }();
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::fuzz::Input in(data, size);
  if (in.byte() % 2 == 0) {
    std::string token = in.rest();
    if (codec().decode(token)) std::abort();  // forged without the key
    (void)TokenCodec::route_of(token);
    return 0;
  }
  tether::TokenClaims claims;
  std::string sid = in.take(16);
  std::memcpy(claims.sid.bytes.data(), sid.data(), sid.size());
  claims.host = in.string(40);
  claims.worker = static_cast<int>(in.number(2));
  claims.issued = static_cast<int64_t>(in.number(8) >> 1);
  std::string token = codec().encode(claims);
  auto back = codec().decode(token);
  // A host that cannot make a route ('.' in it) or is longer than a token
  // holds is the caller's error; the codec must still never accept a lie.
  bool clean = claims.host.size() <= tether::kTokenMaxHostBytes && claims.host.find('.') == std::string::npos;
  if (clean && (!back || back->sid.bytes != claims.sid.bytes || back->host != claims.host ||
                back->worker != claims.worker || back->issued != claims.issued)) {
    std::abort();
  }
  std::string altered = token;
  while (in.left() >= 2) {
    size_t pos = in.byte() % (altered.size() + 1);
    uint8_t op = in.byte();
    if (op < 64 && pos < altered.size()) {
      altered[pos] = static_cast<char>(altered[pos] ^ (1 + op % 255));
    } else if (op < 128 && pos < altered.size()) {
      altered.erase(pos, 1);
    } else {
      altered.insert(pos, 1, static_cast<char>(in.byte()));
    }
  }
  if (altered != token && codec().decode(altered)) std::abort();
  return 0;
}
