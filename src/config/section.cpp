// Typed reads of one section of tether.json (see section.h).
#include "config/section.h"

#include <utility>

#include "common/json.h"

namespace tether::config {

namespace {
constexpr size_t kShownBytes = 80;
}  // namespace

Section::Section(const nlohmann::json& obj, std::string name, std::string file)
    : obj_(obj), name_(std::move(name)), file_(std::move(file)) {}

std::string Section::shown(const nlohmann::json& v) {
  std::string text = json_text(v);
  if (text.size() <= kShownBytes) return text;
  return utf8_or_replaced(std::string_view(text).substr(0, kShownBytes)) + "...";
}

std::string Section::path(const char* key) const {
  if (key == nullptr) return name_;
  return name_.empty() ? key : name_ + "." + key;
}

void Section::fail(const char* key, const std::string& what) {
  if (!error_.empty()) return;
  error_ = (file_.empty() ? "" : file_ + ": ") + "field '" + path(key) + "': " + what;
}

Section& Section::known(std::initializer_list<const char*> keys) {
  if (!error_.empty() || !obj_.is_object()) return *this;
  for (const auto& item : obj_.items()) {
    bool found = false;
    for (const char* k : keys) found = found || item.key() == k;
    if (found) continue;
    std::string list;
    for (const char* k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
    // The key is outside data too: shown as JSON text, so a control byte or
    // invalid UTF-8 in it cannot garble the message.
    std::string key = utf8_or_replaced(item.key());
    fail(key.c_str(), "unknown field (misspelt? known: " + list + ")");
    break;
  }
  return *this;
}

const nlohmann::json* Section::find(const char* key) const {
  if (!obj_.is_object()) return nullptr;
  auto it = obj_.find(key);
  return it == obj_.end() ? nullptr : &*it;
}

bool Section::has(const char* key) const { return find(key) != nullptr; }

const nlohmann::json* Section::next(const char* key) const { return error_.empty() ? find(key) : nullptr; }

bool Section::read_integer(const char* key, int64_t lo, int64_t hi, int64_t* out) {
  const nlohmann::json* v = next(key);
  if (v == nullptr) return false;
  // A JSON integer (signed or unsigned) that fits int64 and the range.
  bool fits = v->is_number_integer() && (!v->is_number_unsigned() || v->get<uint64_t>() <= INT64_MAX);
  if (!fits || v->get<int64_t>() < lo || v->get<int64_t>() > hi) {
    fail(key, "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got " + shown(*v));
    return false;
  }
  *out = v->get<int64_t>();
  return true;
}

void Section::boolean(const char* key, bool* out) {
  const nlohmann::json* v = next(key);
  if (v == nullptr) return;
  if (!v->is_boolean()) return fail(key, "expected true or false, got " + shown(*v));
  *out = v->get<bool>();
}

void Section::string(const char* key, std::string* out) {
  const nlohmann::json* v = next(key);
  if (v == nullptr) return;
  if (!v->is_string()) return fail(key, "expected a string, got " + shown(*v));
  *out = v->get<std::string>();
}

void Section::non_empty(const char* key, const char* what, std::string* out) {
  const nlohmann::json* v = next(key);
  if (v == nullptr) return;
  if (!v->is_string() || v->get_ref<const std::string&>().empty()) {
    return fail(key, std::string("expected ") + what + ", got " + shown(*v));
  }
  *out = v->get<std::string>();
}

void Section::one_of(const char* key, std::initializer_list<const char*> choices, std::string* out) {
  const nlohmann::json* v = next(key);
  if (v == nullptr) return;
  if (v->is_string()) {
    for (const char* c : choices) {
      if (v->get_ref<const std::string&>() == c) {
        *out = c;
        return;
      }
    }
  }
  // expected "a", "b" or "c"
  std::string list;
  const size_t n = choices.size();
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) list += i + 1 == n ? " or " : ", ";
    list += std::string("\"") + choices.begin()[i] + "\"";
  }
  fail(key, "expected " + list + ", got " + shown(*v));
}

void Section::string_list(const char* key, const char* what, std::vector<std::string>* out) {
  const nlohmann::json* v = next(key);
  if (v == nullptr) return;
  if (!v->is_array() || v->empty()) return fail(key, std::string("expected ") + what + ", got " + shown(*v));
  std::vector<std::string> items;
  for (const auto& item : *v) {
    if (!item.is_string()) return fail(key, "expected strings in the list, got " + shown(item));
    items.push_back(item.get<std::string>());
  }
  *out = std::move(items);
}

}  // namespace tether::config
