// FastCGI records for tether's client side (fcgi::Client):
// encoding of records, streams and name-value pairs, an incremental record
// reader, and parsing of a CGI-style response. Pure functions and a reader
// object owned by one thread; no shared state.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "tether/response.h"

namespace tether::fcgi {

inline constexpr uint8_t kBeginRequest = 1, kAbortRequest = 2, kEndRequest = 3, kParams = 4, kStdin = 5,
                         kStdout = 6, kStderr = 7;
inline constexpr size_t kMaxRecordContent = 65535;

// One record; content longer than 65535 bytes is the caller's error.
void append_record(std::string& out, uint8_t type, uint16_t id, std::string_view content);
// data split into records of at most 65535 bytes, then the empty record.
void append_stream(std::string& out, uint8_t type, uint16_t id, std::string_view data);
// A name-value pair: lengths of 1 byte (< 128) or 4 bytes with the high bit.
void append_name_value(std::string& out, std::string_view name, std::string_view value);
// BEGIN_REQUEST for the responder role.
void append_begin(std::string& out, uint16_t id, bool keep_conn);

struct Record {
  uint8_t type = 0;
  uint16_t id = 0;
  std::string content;
};

// Feeds bytes in, takes whole records out.
class RecordReader {
 public:
  enum class Next { NeedMore, Got, Bad };
  void feed(const char* data, size_t n) { buf_.append(data, n); }
  Next next(Record* out);

 private:
  std::string buf_;
  size_t pos_ = 0;
};

// "Status: 404 Not Found\r\nContent-Type: x\r\n\r\nbody" -> Response.
// No Status line means 200. Errors for a missing header end or a bad status.
Result<Response> parse_cgi_response(std::string_view data);

}  // namespace tether::fcgi
