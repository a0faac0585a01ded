// Reading the key file (KeySet::read_file, TokenCodec::from_key_file).
// Main thread (start, SIGHUP); the result is handed over whole.
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "token/token.h"

namespace tether {
namespace {

constexpr const char* kVerifyOnly = "verify-only";

}  // namespace

Result<std::shared_ptr<const KeySet>> KeySet::read_file(const std::string& path) {
  using R = Result<std::shared_ptr<const KeySet>>;
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
    std::istringstream words(line);
    std::string hex, mark, extra;
    words >> hex >> mark >> extra;
    sodium_memzero(line.data(), line.size());
    if (hex.empty()) continue;
    std::string where = "key file " + path + " line " + std::to_string(lineno) + ": ";
    uint8_t bytes[kTokenKeyBytes];
    size_t len = 0;
    const char* end = nullptr;
    bool ok = hex.size() == 2 * kTokenKeyBytes &&
              sodium_hex2bin(bytes, sizeof bytes, hex.data(), hex.size(), nullptr, &len, &end) == 0 &&
              len == kTokenKeyBytes;
    sodium_memzero(hex.data(), hex.size());
    if (!ok) {
      return R::error(where + "expected 64 hex digits (a " + std::to_string(kTokenKeyBytes) + "-byte key)");
    }
    if ((!mark.empty() && mark != kVerifyOnly) || !extra.empty()) {
      sodium_memzero(bytes, sizeof bytes);
      return R::error(where + "after the key expected nothing or the word " + std::string(kVerifyOnly));
    }
    keys.emplace_back(bytes, !mark.empty());
    sodium_memzero(bytes, sizeof bytes);
  }
  if (keys.empty()) return R::error("key file " + path + ": has no key");
  auto set = make(std::move(keys));
  if (!set) return R::error("key file " + path + ": " + set.message());
  return set;
}

Result<TokenCodec> TokenCodec::from_key_file(const std::string& path) {
  auto set = KeySet::read_file(path);
  if (!set) return Result<TokenCodec>::error(set.message());
  return TokenCodec(std::move(set.value()));
}

}  // namespace tether
