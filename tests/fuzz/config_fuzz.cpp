// Fuzzes the configuration loader (src/config): parse_config on arbitrary
// text must return a Config or an error naming the file, never throw or
// crash; an accepted Config keeps the promises the rest of the worker
// relies on (host shape, a listen address, ordered limits).
#include <cstdlib>
#include <string>

#include "config/config.h"

namespace {

bool host_ok(const std::string& h) {
  if (h.empty() || h.size() > 32) return false;
  for (char c : h) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = "/etc/tether/tether.json";
  std::string text(reinterpret_cast<const char*>(data), size);
  tether::ConfigOverrides ov;
  if (size > 0 && data[0] == ' ') ov.worker = 3;  // the flag path too, now and then
  auto c = tether::parse_config(text, path, ov);
  if (!c) {
    if (c.message().rfind(path + ": ", 0) != 0) std::abort();
    return 0;
  }
  if (!host_ok(c->host) || c->listen.empty() || c->advertise.empty() || c->key_file.empty()) std::abort();
  if (c->key_file[0] != '/' || c->listen.find("{worker}") != std::string::npos) std::abort();
  if (c->lifetime_s < c->idle_timeout_s || c->max_acceptor_threads < c->acceptor_threads) std::abort();
  if (!c->routes.is_array() || c->route() != c->host + "-" + std::to_string(c->worker)) std::abort();
  for (const auto* section : {&c->cache, &c->journal, &c->workflows}) {
    if (!section->is_null() && !section->is_object()) std::abort();
  }
  return 0;
}
