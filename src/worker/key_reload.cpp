// Reading the key file again on reload (see key_reload.h).
#include "worker/key_reload.h"

namespace tether {

Status reload_keys(TokenCodec& codec, const std::string& key_file) {
  auto keys = KeySet::read_file(key_file);
  if (!keys) return Status::error(keys.message());
  codec.replace(std::move(keys.value()));
  return Status::ok();
}

}  // namespace tether
