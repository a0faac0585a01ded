// Fuzzes the journal line decoder (src/journal/line): any bytes, as a line
// read back from a journal file after a crash. Checks what it promises: it
// never throws, a decoded entry encodes back to the same line, and a line
// whose checksum or JSON is damaged is refused, never half-read.
#include <cstdlib>
#include <string>

#include "journal/line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto e = tether::journal::decode_line(line);
  if (!e) return 0;
  // Whatever decodes must be a whole, valid entry: encoding it again
  // decodes to the same JSON.
  std::string again = tether::journal::encode_line(e.value());
  if (again.empty() || again.back() != '\n') std::abort();
  auto back = tether::journal::decode_line(std::string_view(again).substr(0, again.size() - 1));
  if (!back) std::abort();
  if (tether::journal::entry_json(back.value()) != tether::journal::entry_json(e.value())) std::abort();
  if (!tether::journal::check_domain(e.value().domain)) std::abort();
  return 0;
}
