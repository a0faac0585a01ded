// Fuzzes the FastCGI client's reading side (src/fcgi/records): what a peer
// worker sends back is fed to a RecordReader in input-chosen pieces, the
// way the forwarding client reads it, and the request's STDOUT is parsed
// with parse_cgi_response. Reading in pieces must give exactly the records
// (or the refusal) that reading all at once gives. Separately, a stream
// written with append_stream must read back unchanged.
#include <cstdlib>
#include <vector>

#include "fcgi/records.h"
#include "fuzz_input.h"

namespace {

using tether::fcgi::Record;
using tether::fcgi::RecordReader;

struct Outcome {
  std::vector<Record> records;
  bool bad = false;
};

// Reads wire, cut at the given sizes (0 = whatever is left).
Outcome read(const std::string& wire, const std::vector<size_t>& cuts) {
  Outcome o;
  RecordReader reader;
  size_t off = 0, i = 0;
  while (off < wire.size() && !o.bad) {
    size_t n = i < cuts.size() && cuts[i] > 0 ? cuts[i] : wire.size() - off;
    ++i;
    if (n > wire.size() - off) n = wire.size() - off;
    reader.feed(wire.data() + off, n);
    off += n;
    Record rec;
    for (RecordReader::Next next; (next = reader.next(&rec)) != RecordReader::Next::NeedMore;) {
      if (next == RecordReader::Next::Bad) {
        o.bad = true;
        break;
      }
      o.records.push_back(rec);
    }
  }
  return o;
}

bool same(const Record& a, const Record& b) { return a.type == b.type && a.id == b.id && a.content == b.content; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::fuzz::Input in(data, size);
  std::vector<size_t> cuts;
  for (size_t n = in.byte() % 8; n > 0; --n) cuts.push_back(in.number(2));
  std::string wire = in.rest();

  Outcome whole = read(wire, {});
  Outcome pieces = read(wire, cuts);
  if (whole.bad != pieces.bad || whole.records.size() != pieces.records.size()) std::abort();
  std::string out;
  for (size_t i = 0; i < whole.records.size(); ++i) {
    if (!same(whole.records[i], pieces.records[i])) std::abort();
    if (whole.records[i].content.size() > tether::fcgi::kMaxRecordContent) std::abort();
    if (whole.records[i].id == 1 && whole.records[i].type == tether::fcgi::kStdout) out += whole.records[i].content;
  }
  auto parsed = tether::fcgi::parse_cgi_response(out);
  if (parsed) {
    if (parsed->status < 100 || parsed->status > 999 || parsed->body.size() > out.size()) std::abort();
    for (const auto& [name, value] : parsed->headers) {
      if (name.empty() || name.find('\n') != std::string::npos || value.find('\n') != std::string::npos) std::abort();
    }
  }

  // The writing side: the input as a stream of id 7 reads back unchanged.
  std::string stream;
  tether::fcgi::append_stream(stream, tether::fcgi::kStdout, 7, wire);
  Outcome back = read(stream, cuts);
  std::string joined;
  if (back.bad || back.records.empty() || !back.records.back().content.empty()) std::abort();
  for (const auto& r : back.records) {
    if (r.id != 7 || r.type != tether::fcgi::kStdout) std::abort();
    joined += r.content;
  }
  if (joined != wire) std::abort();
  return 0;
}
