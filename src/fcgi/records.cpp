// FastCGI record encoding and reading (see records.h).
#include "fcgi/records.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace tether::fcgi {

void append_record(std::string& out, uint8_t type, uint16_t id, std::string_view content) {
  size_t pad = (8 - content.size() % 8) % 8;
  char h[8] = {1,
               static_cast<char>(type),
               static_cast<char>(id >> 8),
               static_cast<char>(id & 0xff),
               static_cast<char>(content.size() >> 8),
               static_cast<char>(content.size() & 0xff),
               static_cast<char>(pad),
               0};
  out.append(h, 8);
  out.append(content);
  out.append(pad, '\0');
}

void append_stream(std::string& out, uint8_t type, uint16_t id, std::string_view data) {
  for (size_t i = 0; i < data.size(); i += kMaxRecordContent) {
    append_record(out, type, id, data.substr(i, kMaxRecordContent));
  }
  append_record(out, type, id, {});
}

namespace {
void append_length(std::string& out, size_t n) {
  if (n < 128) {
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(0x80 | ((n >> 24) & 0x7f)));
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    out.push_back(static_cast<char>((n >> 8) & 0xff));
    out.push_back(static_cast<char>(n & 0xff));
  }
}
}  // namespace

void append_name_value(std::string& out, std::string_view name, std::string_view value) {
  append_length(out, name.size());
  append_length(out, value.size());
  out.append(name);
  out.append(value);
}

void append_begin(std::string& out, uint16_t id, bool keep_conn) {
  char body[8] = {0, 1, static_cast<char>(keep_conn ? 1 : 0), 0, 0, 0, 0, 0};  // role 1: responder
  append_record(out, kBeginRequest, id, std::string_view(body, 8));
}

RecordReader::Next RecordReader::next(Record* out) {
  if (buf_.size() - pos_ < 8) return Next::NeedMore;
  auto u = [&](size_t i) { return static_cast<uint8_t>(buf_[pos_ + i]); };
  if (u(0) != 1) return Next::Bad;
  size_t clen = (size_t{u(4)} << 8) | u(5);
  size_t plen = u(6);
  if (buf_.size() - pos_ < 8 + clen + plen) return Next::NeedMore;
  out->type = u(1);
  out->id = static_cast<uint16_t>((u(2) << 8) | u(3));
  out->content.assign(buf_, pos_ + 8, clen);
  pos_ += 8 + clen + plen;
  if (pos_ > 65536 && pos_ * 2 > buf_.size()) {  // keep the buffer from growing without end
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return Next::Got;
}

namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

Result<Response> parse_cgi_response(std::string_view data) {
  // The headers end at the first blank line, CRLF or LF style, whichever comes first.
  size_t crlf = data.find("\r\n\r\n"), lf = data.find("\n\n");
  size_t end = std::min(crlf, lf);
  size_t sep = end == crlf ? 4 : 2;
  if (end == std::string_view::npos) return Result<Response>::error("response has no end of headers");
  Response r;
  std::string_view head = data.substr(0, end);
  while (!head.empty()) {
    size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head = nl == std::string_view::npos ? std::string_view() : head.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Result<Response>::error("malformed header line");
    std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    if (lower(name) == "status") {
      bool digits = value.size() >= 3 && isdigit(static_cast<unsigned char>(value[0])) &&
                    isdigit(static_cast<unsigned char>(value[1])) && isdigit(static_cast<unsigned char>(value[2]));
      if (!digits || (value.size() > 3 && value[3] != ' ')) return Result<Response>::error("bad Status header");
      int code = std::atoi(std::string(value.substr(0, 3)).c_str());
      if (code < 100) return Result<Response>::error("bad Status header");
      r.status = code;
    } else if (lower(name) != "content-length") {
      r.headers.emplace_back(std::string(name), std::string(value));  // length is set again on the way out
    }
  }
  r.body.assign(data.substr(end + sep));
  return r;
}

}  // namespace tether::fcgi
