// Fuzzes the HTTP text helpers (src/http/parse): Cookie headers, query and
// form fields, percent-decoding, header names, HTML escaping. Checks what
// each promises: cookie names non-empty and trimmed, no ';' in names or values, decoding never grows,
// escaped text holds no markup characters.
#include <cstdlib>

#include "fuzz_input.h"
#include "http/parse.h"

namespace {

bool blank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::fuzz::Input in(data, size);
  std::string name = in.string(16);
  std::string text = in.rest();

  for (const auto& [k, v] : tether::http::parse_cookies(text)) {
    if (k.empty() || blank(k.front()) || blank(k.back()) || k.find(';') != std::string::npos ||
        k.find('=') != std::string::npos) {
      std::abort();
    }
    if (v.find(';') != std::string::npos) std::abort();
  }
  for (bool plus : {false, true}) {
    if (tether::http::percent_decode(text, plus).size() > text.size()) std::abort();
  }
  if (tether::http::form_value(text, name).size() > text.size()) std::abort();
  std::string header = tether::http::header_name_from_param(text);
  if (header.size() > text.size() || header.find('_') != std::string::npos) std::abort();
  std::string escaped = tether::http::html_escape(text);
  if (escaped.find_first_of("<>\"'") != std::string::npos) std::abort();
  return 0;
}
