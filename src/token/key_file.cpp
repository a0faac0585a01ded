// Reading the key file for session tokens (TokenCodec::from_key_file).
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "token/token.h"

namespace tether {

Result<TokenCodec> TokenCodec::from_key_file(const std::string& path) {
  using R = Result<TokenCodec>;
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return R::error("key file " + path + ": cannot be read (missing?)");
  if (!S_ISREG(st.st_mode)) return R::error("key file " + path + ": not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return R::error("key file " + path + ": readable by group or others; run chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) return R::error("key file " + path + ": cannot be opened");
  std::vector<TokenKey> keys;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    size_t hash = line.find('#');
    if (hash != std::string::npos) line.resize(hash);
    std::string hex;
    for (char ch : line) {
      if (!isspace(static_cast<unsigned char>(ch))) hex.push_back(ch);
    }
    if (hex.empty()) continue;
    uint8_t bytes[kTokenKeyBytes];
    size_t len = 0;
    const char* end = nullptr;
    if (hex.size() != 2 * kTokenKeyBytes ||
        sodium_hex2bin(bytes, sizeof bytes, hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
        len != kTokenKeyBytes) {
      sodium_memzero(hex.data(), hex.size());
      return R::error("key file " + path + " line " + std::to_string(lineno) + ": expected 64 hex digits (a " +
                      std::to_string(kTokenKeyBytes) + "-byte key)");
    }
    keys.emplace_back(bytes);
    sodium_memzero(bytes, sizeof bytes);
    sodium_memzero(hex.data(), hex.size());
  }
  if (keys.empty()) return R::error("key file " + path + ": has no key");
  auto codec = from_keys(std::move(keys));
  if (!codec) return R::error("key file " + path + ": " + codec.message());
  return codec;
}

}  // namespace tether
