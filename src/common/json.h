// JSON from outside, read and written safely: the one place where tether
// parses text it did not write and dumps values that hold outside strings.
//
// parse_json() refuses text nested deeper than a bound before nlohmann sees
// it (copying, comparing and dumping a value recurse once per level), and
// never throws. json_text() writes any value, replacing invalid UTF-8 with
// U+FFFD instead of throwing (nlohmann's default dump() throws on it).
// The field readers give a value only when it is there with the right type:
// decoders of Redis values and peer messages use them instead of value(),
// get<>() and operator[], which throw or invent defaults.
//
// Thread safety: pure functions.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tether {

// How deep outside JSON may nest (objects and arrays); deeper is refused.
constexpr int kMaxJsonDepth = 64;

// The deepest nesting of arrays and objects in text (strings skipped), or
// more than limit as soon as that is seen. Linear, no recursion.
int json_depth(std::string_view text, int limit);

// Parses text, refusing invalid JSON and nesting deeper than max_depth.
Result<nlohmann::json> parse_json(std::string_view text, int max_depth = kMaxJsonDepth);

// j as compact JSON text; invalid UTF-8 in strings becomes U+FFFD. Never throws
// (for values nested no deeper than what parse_json lets in).
std::string json_text(const nlohmann::json& j, int indent = -1);

// Valid UTF-8 (and no overlong forms or surrogates)?
bool valid_utf8(std::string_view s);
// s with every invalid UTF-8 sequence replaced by U+FFFD.
std::string utf8_or_replaced(std::string_view s);

// Typed field readers: the value when obj is an object holding key with that type.
std::optional<std::string> string_field(const nlohmann::json& obj, const char* key);
std::optional<int64_t> int_field(const nlohmann::json& obj, const char* key);
std::optional<bool> bool_field(const nlohmann::json& obj, const char* key);
// The field itself when present (any type); null when absent or obj is no object.
const nlohmann::json* field(const nlohmann::json& obj, const char* key);

}  // namespace tether
