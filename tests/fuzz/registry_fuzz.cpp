// Fuzzes the decoders of what the registry and the journal store read back
// from Redis (src/registry/decode.h, src/registry/figures.h,
// src/journal/line.h entry_from_json, which decodes a journal store entry).
// The input is text, so seeds are easy to write: its first byte picks the
// decoder, the rest is split into lines:
//   'm' a {prefix}workers zset member (the rest, whole)
//   's' a session entry hash: lines "field=value"
//   'h' a heartbeat: a first line "host:n", then addr, accepting, sessions,
//       pid, started (the HMGET values; a missing line is an empty value)
//   'f' figures: a first line "host:n", the rest the figures JSON; Figures
//       also gets the directory's view and an update from itself
//   'j' a journal store entry's JSON (the rest, whole)
// Checks: nothing throws, a refusal says why, and what is accepted keeps
// the promises of the decoder's header (valid names, ranges, round trips).
#include <cstdlib>
#include <string>
#include <vector>

#include "common/json.h"
#include "journal/line.h"
#include "common/route.h"
#include "registry/decode.h"
#include "registry/figures.h"

namespace {

namespace reg = tether::registry;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && out.size() < 64) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

template <class T>
void check_refusal(const tether::Result<T>& r) {
  if (!r && r.message().empty()) std::abort();  // a refusal always says why
}

// "host:n" as the directory names a worker, or false.
bool host_worker(const std::string& line, std::string* host, int* worker) {
  auto named = reg::decode_worker_name(line);
  check_refusal(named);
  if (!named) return false;
  *host = named->first;
  *worker = named->second;
  return true;
}

void member(const std::string& text) {
  auto r = reg::decode_worker_name(text);
  check_refusal(r);
  if (r && (!tether::valid_host_id(r->first) || r->second < 0 || r->second > 65535)) std::abort();
  // The name tether writes for it decodes to the same worker. (Not always
  // the same text: "h1:0999" is accepted as h1:999, see the report.)
  if (!r) return;
  auto again = reg::decode_worker_name(reg::worker_name(r->first, r->second));
  if (!again || *again != *r) std::abort();
}

void session(const std::vector<std::string>& lines) {
  std::map<std::string, std::string> fields;
  for (const auto& l : lines) {
    size_t eq = l.find('=');
    if (eq != std::string::npos) fields[l.substr(0, eq)] = l.substr(eq + 1);
  }
  auto r = reg::decode_session(fields);
  check_refusal(r);
  if (!r) return;
  if (!tether::valid_host_id(r->owner.host) || !reg::valid_addr(r->owner.addr) || r->epoch < 1) std::abort();
  if (r->owner.worker < 0 || r->owner.worker > 65535) std::abort();
}

void heartbeat(const std::vector<std::string>& lines) {
  std::string host;
  int worker = 0;
  if (!host_worker(lines[0], &host, &worker)) return;
  std::string v[5];
  for (size_t i = 0; i < 5 && i + 1 < lines.size(); ++i) v[i] = lines[i + 1];
  auto r = reg::decode_heartbeat(host, worker, v);
  check_refusal(r);
  if (!r) return;
  if (!reg::valid_addr(r->addr) || r->sessions < 0 || r->pid < 0 || r->started_ms < 0) std::abort();
  // What the fleet view shows of a worker without figures.
  auto shown = reg::Figures::from_directory(r.value());
  (void)tether::json_text(shown.json());
}

void figures(const std::string& first, const std::string& text) {
  std::string host;
  int worker = 0;
  if (!host_worker(first, &host, &worker)) return;
  auto r = reg::Figures::decode(text, host, worker);
  check_refusal(r);
  if (!r) return;
  if (r->host() != host || r->worker() != worker || !r->json().is_object()) std::abort();
  // Accepted figures are written out again (status, tetherctl, metrics):
  // that text decodes to the same figures.
  std::string again = tether::json_text(r->json());
  auto back = reg::Figures::decode(again, host, worker);
  if (!back || back->json() != r->json()) std::abort();
  reg::WorkerInfo w;
  w.host = host;
  w.worker = worker;
  w.addr = "unix:/tmp/w.sock";
  reg::Figures f = r.value();
  f.set_directory(w);
  f.update_from(back.value());
  nlohmann::json list = nlohmann::json::array();
  list.push_back(f);
  (void)tether::json_text(list);
}

void journal_entry(const std::string& text) {
  auto r = tether::journal::entry_from_json(text);
  check_refusal(r);
  if (!r) return;
  // An entry the store hands out is shipped on as a line: it round-trips.
  std::string line = tether::journal::encode_line(r.value());
  if (line.empty() || line.back() != '\n') std::abort();
  auto back = tether::journal::decode_line(std::string_view(line).substr(0, line.size() - 1));
  if (!back) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0]) {
    case 'm':
      member(rest);
      break;
    case 's':
      session(lines_of(rest));
      break;
    case 'h':
      heartbeat(lines_of(rest));
      break;
    case 'f': {
      size_t nl = rest.find('\n');
      figures(rest.substr(0, nl), nl == std::string::npos ? std::string() : rest.substr(nl + 1));
      break;
    }
    case 'j':
      journal_entry(rest);
      break;
    default:
      break;
  }
  return 0;
}
