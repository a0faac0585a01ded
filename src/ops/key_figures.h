// Key figures: which token keys a worker holds, as its status JSON's "keys"
// section (also in its heartbeat figures) and as `tetherctl keys` reads it
// back. Only key ids appear (TokenKey::id_hex(), two hex digits: the first
// byte of the key's BLAKE2b digest), never key bytes:
//   "keys": {"sealing": "3f", "others": ["a1", "07"]}
// "sealing" seals new tokens (and peer proofs); "others" are every other key
// the worker opens tokens with (verify-only or not), in key file order.
//
// The section read from Redis is hostile input: decode_key_figures() checks
// it whole (an object; "sealing" two lowercase hex digits; "others" an
// array of at most 255 such ids, distinct and none the sealing id) or
// refuses it with a reason; read_worker_keys() counts the refusal
// (firewall::refused(kBadKeyFigures, ...)) and shows that worker as unknown.
// check_keys() compares the workers' holdings: do they agree on the sealing
// key (else a rotation step is half done), and does every worker hold every
// key another one seals with (else its sessions and forwarded requests
// break on that worker).
//
// Thread safety: pure functions over values.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "token/token.h"

namespace tether {

constexpr const char* kBadKeyFigures = "heartbeat.bad_key_figures";
constexpr size_t kMaxKeyIds = 255;  // ids are one byte, and distinct

// One worker's keys: the sealing id and the others.
struct KeyHolding {
  std::string sealing;
  std::vector<std::string> others;
  bool holds(const std::string& id) const;
};

// The "keys" section for this worker's status (ids only).
nlohmann::json key_figures(const KeySet& keys);

// The "keys" section of a worker's decoded figures (the whole figures
// object). nullopt inside the Result: the figures have no "keys" section
// (a tetherd that predates it); error: a section that is not as above.
Result<std::optional<KeyHolding>> decode_key_figures(const nlohmann::json& figures);

// One worker's keys as tetherctl shows them: held, or why not known. A
// section that decode_key_figures() refuses is counted here
// (firewall::refused(kBadKeyFigures, route + reason)).
struct WorkerKeys {
  std::optional<KeyHolding> held;
  std::string unknown;  // why held is empty
};
WorkerKeys read_worker_keys(const nlohmann::json& figures, const std::string& route);

// What the workers' holdings say, by worker route ("h1-0").
struct KeyCheck {
  std::vector<std::string> sealing_ids;  // distinct sealing ids, sorted
  // worker -> the ids other workers seal with that it does not hold.
  std::map<std::string, std::vector<std::string>> missing;
  bool agree() const { return sealing_ids.size() <= 1; }
  bool ok() const { return agree() && missing.empty(); }
};
KeyCheck check_keys(const std::map<std::string, KeyHolding>& workers);

}  // namespace tether
