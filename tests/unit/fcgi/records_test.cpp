// Tests FastCGI records (src/fcgi/records): encoding, name-value lengths, RecordReader and parse_cgi_response.
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "fcgi/records.h"

namespace tether {
namespace {

using fcgi::Record;
using fcgi::RecordReader;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

// Reads every whole record out of wire; fails the test on Bad or on bytes left over.
std::vector<Record> read_all(const std::string& wire) {
  RecordReader reader;
  reader.feed(wire.data(), wire.size());
  std::vector<Record> out;
  Record rec;
  for (;;) {
    auto next = reader.next(&rec);
    EXPECT_NE(next, RecordReader::Next::Bad);
    if (next != RecordReader::Next::Got) break;
    out.push_back(rec);
  }
  return out;
}

std::string patterned(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

TEST(RecordsTest, AppendRecordWritesHeaderContentAndPaddingToEight) {
  std::string out = "x";  // appends, keeps what was there
  fcgi::append_record(out, fcgi::kStdout, 0x0102, "abc");
  ASSERT_EQ(out.size(), 1u + 8 + 3 + 5);
  EXPECT_EQ(out.substr(1, 8), bytes({1, 6, 1, 2, 0, 3, 5, 0}));
  EXPECT_EQ(out.substr(9, 3), "abc");
  EXPECT_EQ(out.substr(12), std::string(5, '\0'));
}

TEST(RecordsTest, AppendRecordPadsOnlyWhenNeeded) {
  std::string empty, eight, big;
  fcgi::append_record(empty, fcgi::kStdin, 1, "");
  EXPECT_EQ(empty, bytes({1, 5, 0, 1, 0, 0, 0, 0}));
  fcgi::append_record(eight, fcgi::kParams, 1, "12345678");
  EXPECT_EQ(eight.size(), 16u);
  EXPECT_EQ(eight[6], 0);
  fcgi::append_record(big, fcgi::kStdout, 1, std::string(65535, 'z'));
  ASSERT_EQ(big.size(), 8u + 65535 + 1);
  EXPECT_EQ(big.substr(0, 8), bytes({1, 6, 0, 1, 0xff, 0xff, 1, 0}));
  EXPECT_EQ(big.size() % 8, 0u);
}

void expect_stream(size_t n, size_t want_records) {
  SCOPED_TRACE("stream of " + std::to_string(n) + " bytes");
  std::string data = patterned(n), wire;
  fcgi::append_stream(wire, fcgi::kStdin, 9, data);
  auto recs = read_all(wire);
  ASSERT_EQ(recs.size(), want_records);
  std::string joined;
  for (size_t i = 0; i < recs.size(); ++i) {
    EXPECT_EQ(recs[i].type, fcgi::kStdin);
    EXPECT_EQ(recs[i].id, 9);
    EXPECT_LE(recs[i].content.size(), fcgi::kMaxRecordContent);
    if (i + 1 < recs.size()) {
      EXPECT_FALSE(recs[i].content.empty());
    }
    joined += recs[i].content;
  }
  EXPECT_TRUE(recs.back().content.empty());  // the stream's end
  EXPECT_EQ(joined, data);
}

TEST(RecordsTest, AppendStreamSplitsAt65535AndEndsWithAnEmptyRecord) {
  expect_stream(0, 1);
  expect_stream(65535, 2);
  expect_stream(65536, 3);
  expect_stream(200000, 5);  // 3 x 65535 + 3395, then the end
}

TEST(RecordsTest, NameValueLengthsUseOneByteBelow128) {
  std::string out;
  fcgi::append_name_value(out, std::string(127, 'n'), "v");
  ASSERT_EQ(out.size(), 2u + 127 + 1);
  EXPECT_EQ(out.substr(0, 2), bytes({127, 1}));
  EXPECT_EQ(out.substr(2, 127), std::string(127, 'n'));
  EXPECT_EQ(out.substr(129), "v");

  std::string empty;
  fcgi::append_name_value(empty, "A", "");
  EXPECT_EQ(empty, bytes({1, 0, 'A'}));
}

TEST(RecordsTest, NameValueLengthsUseFourBytesWithHighBitFrom128) {
  struct Case {
    size_t n;
    std::string len;
  };
  const std::vector<Case> cases = {{127, bytes({0x7f})},
                                   {128, bytes({0x80, 0, 0, 0x80})},
                                   {300, bytes({0x80, 0, 0x01, 0x2c})},
                                   {70000, bytes({0x80, 0x01, 0x11, 0x70})}};
  for (const auto& name : cases) {
    for (const auto& value : cases) {
      SCOPED_TRACE("name " + std::to_string(name.n) + ", value " + std::to_string(value.n));
      std::string n(name.n, 'N'), v = patterned(value.n), out;
      fcgi::append_name_value(out, n, v);
      EXPECT_EQ(out, name.len + value.len + n + v);
    }
  }
}

TEST(RecordsTest, AppendBeginIsAResponderBeginRequest) {
  std::string keep, close;
  fcgi::append_begin(keep, 0x0203, true);
  fcgi::append_begin(close, 1, false);
  EXPECT_EQ(keep, bytes({1, 1, 2, 3, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(close, bytes({1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(RecordReaderTest, ReadsRecordsFedOneByteAtATime) {
  std::string wire;
  fcgi::append_record(wire, fcgi::kStdout, 1, "hello");
  fcgi::append_record(wire, fcgi::kStdout, 1, "");
  fcgi::append_record(wire, fcgi::kEndRequest, 1, std::string(8, '\0'));
  RecordReader reader;
  std::vector<Record> got;
  Record rec;
  for (char c : wire) {
    reader.feed(&c, 1);
    RecordReader::Next next;
    while ((next = reader.next(&rec)) == RecordReader::Next::Got) got.push_back(rec);
    ASSERT_EQ(next, RecordReader::Next::NeedMore);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].content, "hello");
  EXPECT_TRUE(got[1].content.empty());
  EXPECT_EQ(got[2].type, fcgi::kEndRequest);
  EXPECT_EQ(got[2].content, std::string(8, '\0'));
}

TEST(RecordReaderTest, ReadsSeveralRecordsFromOneFeedAndWaitsForTheRest) {
  std::string wire;
  fcgi::append_record(wire, fcgi::kParams, 1, "one");
  fcgi::append_record(wire, fcgi::kStdin, 1, "two!");
  std::string third;
  fcgi::append_record(third, fcgi::kStdin, 1, "three");
  wire += third.substr(0, 10);
  RecordReader reader;
  reader.feed(wire.data(), wire.size());
  Record rec;
  ASSERT_EQ(reader.next(&rec), RecordReader::Next::Got);
  EXPECT_EQ(rec.type, fcgi::kParams);
  EXPECT_EQ(rec.content, "one");
  ASSERT_EQ(reader.next(&rec), RecordReader::Next::Got);
  EXPECT_EQ(rec.type, fcgi::kStdin);
  EXPECT_EQ(rec.content, "two!");
  EXPECT_EQ(reader.next(&rec), RecordReader::Next::NeedMore);
  reader.feed(third.data() + 10, third.size() - 10);
  ASSERT_EQ(reader.next(&rec), RecordReader::Next::Got);
  EXPECT_EQ(rec.content, "three");
  EXPECT_EQ(reader.next(&rec), RecordReader::Next::NeedMore);
}

TEST(RecordReaderTest, KeepsInterleavedStdoutAndStderrApartByType) {
  std::string wire;
  fcgi::append_record(wire, fcgi::kStderr, 1, "ack");
  fcgi::append_record(wire, fcgi::kStdout, 1, "Status: 200\r\n");
  fcgi::append_record(wire, fcgi::kStderr, 1, "warn");
  fcgi::append_record(wire, fcgi::kStdout, 1, "\r\nbody");
  std::string out, err;
  for (const auto& r : read_all(wire)) {
    if (r.type == fcgi::kStdout) out += r.content;
    if (r.type == fcgi::kStderr) err += r.content;
  }
  EXPECT_EQ(out, "Status: 200\r\n\r\nbody");
  EXPECT_EQ(err, "ackwarn");
}

TEST(RecordReaderTest, AVersionOtherThanOneIsBad) {
  std::string wire;
  fcgi::append_record(wire, fcgi::kStdout, 1, "x");
  wire[0] = 2;
  RecordReader reader;
  reader.feed(wire.data(), wire.size());
  Record rec;
  EXPECT_EQ(reader.next(&rec), RecordReader::Next::Bad);
}

TEST(RecordReaderTest, ReturnsRecordsForOtherRequestIdsWithTheirId) {
  std::string wire;
  fcgi::append_record(wire, fcgi::kStdout, 7, "seven");
  fcgi::append_record(wire, fcgi::kStdout, 0xfffe, "big");
  auto recs = read_all(wire);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].id, 7);
  EXPECT_EQ(recs[0].content, "seven");
  EXPECT_EQ(recs[1].id, 0xfffe);
  EXPECT_EQ(recs[1].content, "big");
}

TEST(RecordReaderTest, ReadsManyLargeRecordsInARow) {
  // Past 64 KiB the reader compacts its buffer; records must survive that.
  std::string data = patterned(300000), wire;
  fcgi::append_stream(wire, fcgi::kStdout, 1, data);
  RecordReader reader;
  std::string joined;
  Record rec;
  for (size_t off = 0; off < wire.size(); off += 4096) {
    size_t n = std::min<size_t>(4096, wire.size() - off);
    reader.feed(wire.data() + off, n);
    RecordReader::Next next;
    while ((next = reader.next(&rec)) == RecordReader::Next::Got) joined += rec.content;
    ASSERT_EQ(next, RecordReader::Next::NeedMore);
  }
  EXPECT_EQ(joined, data);
}

TEST(ParseCgiResponseTest, ReadsStatusHeadersInOrderAndBody) {
  auto r =
      fcgi::parse_cgi_response("Status: 404 Not Found\r\nContent-Type: text/plain\r\nX-B: 2\r\nX-A: 1\r\n\r\nnope");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->status, 404);
  ASSERT_EQ(r->headers.size(), 3u);
  EXPECT_EQ(r->headers[0], std::make_pair(std::string("Content-Type"), std::string("text/plain")));
  EXPECT_EQ(r->headers[1], std::make_pair(std::string("X-B"), std::string("2")));
  EXPECT_EQ(r->headers[2], std::make_pair(std::string("X-A"), std::string("1")));
  EXPECT_EQ(r->body, "nope");
}

TEST(ParseCgiResponseTest, NoStatusMeansTwoHundred) {
  auto r = fcgi::parse_cgi_response("Content-Type: x\r\n\r\n");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->body.empty());
}

TEST(ParseCgiResponseTest, DropsContentLengthAndKeepsRepeatedHeaders) {
  auto r = fcgi::parse_cgi_response(
      "Set-Cookie: a=1\r\nContent-Length: 4\r\ncontent-length: 4\r\nSet-Cookie: b=2\r\n\r\nbody");
  ASSERT_TRUE(r) << r.message();
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].second, "a=1");
  EXPECT_EQ(r->headers[1].second, "b=2");
  EXPECT_EQ(r->body, "body");
}

TEST(ParseCgiResponseTest, KeepsABinaryBodyWithBlankLinesInside) {
  std::string body = "a\r\n\r\nb\n\nc" + std::string("\0\x01\xff\0", 4) + "\r\n\r\n";
  std::string wire = "Status: 201\r\nX: y\r\n\r\n" + body;
  auto r = fcgi::parse_cgi_response(wire);
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->status, 201);
  ASSERT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->body, body);
}

TEST(ParseCgiResponseTest, AcceptsHeadersEndedByLfOnly) {
  auto r = fcgi::parse_cgi_response("Status: 302\nLocation: /x\n\nmoved");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->status, 302);
  ASSERT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->headers[0].first, "Location");
  EXPECT_EQ(r->headers[0].second, "/x");
  EXPECT_EQ(r->body, "moved");
}

// Regression: the header end was once looked up as CRLF-CRLF anywhere before
// LF-LF, so a CRLF blank line in the body of an LF-only reply ended the headers.
TEST(ParseCgiResponseTest, LfOnlyHeadersWithCrlfBlankLineInBody) {
  auto r = fcgi::parse_cgi_response("Content-Type: text/plain\n\nline one\r\n\r\nline two");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->body, "line one\r\n\r\nline two");
}

TEST(ParseCgiResponseTest, MissingEndOfHeadersIsAnError) {
  EXPECT_FALSE(fcgi::parse_cgi_response("Status: 200\r\nContent-Type: x\r\n"));
  EXPECT_FALSE(fcgi::parse_cgi_response(""));
  auto r = fcgi::parse_cgi_response("Content-Type: x\r\nbody without a blank line");
  ASSERT_FALSE(r);
  EXPECT_NE(r.message().find("end of headers"), std::string::npos) << r.message();
}

TEST(ParseCgiResponseTest, BadStatusIsAnError) {
  for (const char* wire : {"Status: abc\r\n\r\n", "Status: 20\r\n\r\n", "Status:\r\n\r\n", "Status: -200\r\n\r\n"}) {
    SCOPED_TRACE(wire);
    auto r = fcgi::parse_cgi_response(wire);
    ASSERT_FALSE(r);
    EXPECT_NE(r.message().find("Status"), std::string::npos) << r.message();
  }
}

TEST(ParseCgiResponseTest, HeaderLineWithoutColonIsAnError) {
  EXPECT_FALSE(fcgi::parse_cgi_response("Content-Type: x\r\nno colon here\r\n\r\nbody"));
  EXPECT_FALSE(fcgi::parse_cgi_response(": empty name\r\n\r\nbody"));
}

TEST(ParseCgiResponseTest, StatusMustBeThreeDigitsAndContentLengthAnyCaseIsDropped) {
  EXPECT_FALSE(fcgi::parse_cgi_response("Status: 2000\r\n\r\n"));
  EXPECT_FALSE(fcgi::parse_cgi_response("Status: 20x\r\n\r\n"));
  auto r = fcgi::parse_cgi_response("status: 201 Created\r\nContent-length: 3\r\nX: y\r\n\r\nabc");
  ASSERT_TRUE(r) << r.message();
  EXPECT_EQ(r->status, 201);
  ASSERT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->headers[0].first, "X");
}

}  // namespace
}  // namespace tether
