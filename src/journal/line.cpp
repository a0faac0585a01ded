// Journal line encoding, decoding and checksum (see line.h).
#include "journal/line.h"

#include <array>
#include <cstdio>

#include "common/json.h"

namespace tether::journal {
namespace {

using nlohmann::json;

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

bool is_hex8(std::string_view s) {
  if (s.size() != 8) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = make_table();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// 1..max of [A-Za-z0-9_.-]: safe in key names and in JSON without escaping.
bool plain(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

Status check_domain(std::string_view d) {
  if (plain(d, 64)) return Status::ok();
  return Status::error("domain: expected 1-64 of [A-Za-z0-9_.-], got \"" + std::string(d.substr(0, 80)) + "\"");
}

std::string entry_json(const Entry& e) {
  // Written by hand around the app's strings (the hot path of every append);
  // strings the app gave go through nlohmann, which replaces invalid UTF-8.
  auto text = [](const std::string& v) { return json(v).dump(-1, ' ', false, json::error_handler_t::replace); };
  std::string out;
  out.reserve(160 + e.uri.size());
  out += "{\"src\":\"" + e.src + "\",\"seq\":" + std::to_string(e.seq);  // src: [A-Za-z0-9_.-]
  out += ",\"time\":" + std::to_string(e.time_us) + ",\"domain\":\"" + e.domain + "\",\"uri\":";
  out += e.uri.empty() ? std::string("\"\"") : text(e.uri);
  out += ",\"priority\":" + std::to_string(e.priority) + ",\"key_start_date\":" + std::to_string(e.key_start_date);
  out += ",\"fields\":";
  out += e.fields.empty() ? std::string("{}") : e.fields.dump(-1, ' ', false, json::error_handler_t::replace);
  out += '}';
  return out;
}

Result<Entry> entry_from_json(std::string_view text) {
  using R = Result<Entry>;
  auto parsed = parse_json(text);  // journal files and store entries nest no deeper than kMaxJsonDepth
  if (!parsed || !parsed->is_object()) return R::error(parsed ? "not a JSON object" : parsed.message());
  json& j = *parsed;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string(); };
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number_integer(); };
  if (!str("src") || !plain(j["src"].get_ref<const std::string&>(), 128)) {
    return R::error("src: expected 1-128 of [A-Za-z0-9_.-]");
  }
  if (!j.contains("seq") || !j["seq"].is_number_unsigned() || j["seq"].get<uint64_t>() == 0) {
    return R::error("seq: expected a positive integer");
  }
  if (!num("time")) return R::error("time: expected an integer (µs)");
  if (!str("domain")) return R::error("domain: expected a string");
  if (!str("uri")) return R::error("uri: expected a string");
  if (!num("priority")) return R::error("priority: expected an integer");
  if (!num("key_start_date")) return R::error("key_start_date: expected an integer (µs)");
  if (!j.contains("fields") || !j["fields"].is_object()) return R::error("fields: expected an object");
  Entry e;
  e.src = j["src"].get<std::string>();
  e.seq = j["seq"].get<uint64_t>();
  e.time_us = j["time"].get<int64_t>();
  e.domain = j["domain"].get<std::string>();
  if (Status s = check_domain(e.domain); !s) return s;
  e.uri = j["uri"].get<std::string>();
  int64_t p = j["priority"].get<int64_t>();
  if (p < 0 || p > kMaxPriority) return R::error("priority: expected 0..255");
  e.priority = static_cast<int>(p);
  e.key_start_date = j["key_start_date"].get<int64_t>();
  e.fields = std::move(j["fields"]);
  return e;
}

std::string encode_line(const Entry& e) {
  std::string body = entry_json(e);
  char crc[16];
  snprintf(crc, sizeof crc, "%08x ", crc32(body));
  std::string line;
  line.reserve(body.size() + 10);
  line.append(crc, 9);
  line += body;
  line += '\n';
  return line;
}

Result<Entry> decode_line(std::string_view line) {
  if (line.size() > kMaxLineBytes + 9) return Result<Entry>::error("line longer than 1 MiB");
  if (line.size() < 10 || line[8] != ' ' || !is_hex8(line.substr(0, 8))) {
    return Result<Entry>::error("no checksum: expected 8 hex digits and a space");
  }
  std::string_view body = line.substr(9);
  char want[9];
  snprintf(want, sizeof want, "%08x", crc32(body));
  if (line.substr(0, 8) != std::string_view(want, 8)) return Result<Entry>::error("checksum mismatch");
  return entry_from_json(body);
}

}  // namespace tether::journal
