// The "keys" status section: written, decoded and compared (see key_figures.h).
#include "ops/key_figures.h"

#include <algorithm>
#include <set>

#include "common/firewall.h"
#include "common/json.h"

namespace tether {
namespace {

using nlohmann::json;

bool valid_id(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return s.size() == 2 && hex(s[0]) && hex(s[1]);
}

}  // namespace

bool KeyHolding::holds(const std::string& id) const {
  return sealing == id || std::find(others.begin(), others.end(), id) != others.end();
}

json key_figures(const KeySet& keys) {
  json others = json::array();
  for (size_t i = 1; i < keys.keys.size(); ++i) others.push_back(keys.keys[i].id_hex());
  return json{{"sealing", keys.sealing().id_hex()}, {"others", others}};
}

Result<std::optional<KeyHolding>> decode_key_figures(const json& figures) {
  using R = Result<std::optional<KeyHolding>>;
  if (!figures.is_object()) return R::error("figures: not an object");
  const json* k = field(figures, "keys");
  if (k == nullptr) return R(std::optional<KeyHolding>());
  if (!k->is_object()) return R::error("keys: not an object");
  KeyHolding h;
  auto sealing = string_field(*k, "sealing");
  if (!sealing || !valid_id(*sealing)) return R::error("keys.sealing: not a key id (two lowercase hex digits)");
  h.sealing = *sealing;
  const json* others = field(*k, "others");
  if (others == nullptr || !others->is_array()) return R::error("keys.others: not an array");
  if (others->size() > kMaxKeyIds) return R::error("keys.others: more than 255 ids");
  std::set<std::string> seen{h.sealing};
  for (const auto& v : *others) {
    if (!v.is_string()) return R::error("keys.others: an id that is not a string");
    const std::string& id = v.get_ref<const std::string&>();
    if (!valid_id(id)) return R::error("keys.others: not a key id (two lowercase hex digits)");
    if (!seen.insert(id).second) return R::error("keys.others: id " + id + " twice (or the sealing id)");
    h.others.push_back(id);
  }
  return R(std::optional<KeyHolding>(std::move(h)));
}

WorkerKeys read_worker_keys(const json& figures, const std::string& route) {
  WorkerKeys w;
  auto k = decode_key_figures(figures);
  if (!k) {
    firewall::refused(kBadKeyFigures, route + ": " + k.message());
    w.unknown = "bad keys figures: " + k.message();
  } else if (!k->has_value()) {
    w.unknown = "no keys reported (an older tetherd, or no heartbeat figures yet)";
  } else {
    w.held = std::move(**k);
  }
  return w;
}

KeyCheck check_keys(const std::map<std::string, KeyHolding>& workers) {
  KeyCheck c;
  std::set<std::string> sealing;
  for (const auto& [route, h] : workers) sealing.insert(h.sealing);
  c.sealing_ids.assign(sealing.begin(), sealing.end());
  for (const auto& [route, h] : workers) {
    for (const auto& id : c.sealing_ids) {
      if (!h.holds(id)) c.missing[route].push_back(id);
    }
  }
  return c;
}

}  // namespace tether
