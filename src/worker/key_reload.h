// The key-file part of a worker's reload (SIGHUP, or {"type":"reload"} on
// the bus): the key file is read again and, when it is good, becomes the
// codec's key set for every later token, peer connection and admin CSRF
// token (TokenCodec::replace; they read the codec's keys per use). A bad file (missing, malformed, no sealing
// key, readable by others) changes nothing: the old keys stay and the error
// goes to the reload report like a bad config file's.
// Thread safety: main thread (the reload); the swap itself is atomic for
// the threads that encode and decode meanwhile.
#pragma once
#include <string>

#include "common/result.h"
#include "token/token.h"

namespace tether {

// Reads key_file; ok: the codec now holds its keys. Error (naming the
// file): the codec is unchanged.
Status reload_keys(TokenCodec& codec, const std::string& key_file);

}  // namespace tether
