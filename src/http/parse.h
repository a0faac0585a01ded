// Small HTTP text helpers: percent-decoding, query/form fields, cookies,
// header-name normalisation. Pure functions: thread-safe.
#pragma once
#include <map>
#include <string>
#include <string_view>

namespace tether::http {

// Percent-decodes s; with plus_is_space, '+' becomes ' ' (forms, queries).
// Invalid escapes are kept as they are.
std::string percent_decode(std::string_view s, bool plus_is_space);
// The first value of name in an a=1&b=2 string, decoded; "" when absent.
std::string form_value(std::string_view encoded, std::string_view name);
// Cookie header -> name/value map. The first occurrence of a name wins
// (the most specific path, as browsers send it). Malformed pairs are skipped.
std::map<std::string, std::string> parse_cookies(std::string_view header);
// "HTTP_X_FORWARDED_FOR" -> "x-forwarded-for".
std::string header_name_from_param(std::string_view param);
// Escapes text for HTML element content and attribute values.
std::string html_escape(std::string_view s);

}  // namespace tether::http
