// ReplyView: the one way tether reads a Redis reply. A reply is outside
// input (anyone who can write to Redis shapes it), so code never indexes
// hiredis' element[] by hand: it asks this reader for the shape it needs
// (an array of n elements, a string, an integer) and gets the value or an
// error value naming what was expected and what came. Out of range and
// missing elements read as "nothing", never as a crash; nothing here
// defaults silently (a nil where a string is needed is an error).
//
// Thread safety: a ReplyView is a non-owning, read-only view; it must not
// outlive the reply it views (one thread, like the reply).
#pragma once
#include <hiredis/hiredis.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tether {

class ReplyView {
 public:
  ReplyView() = default;
  explicit ReplyView(const redisReply* r) : r_(r) {}

  const redisReply* raw() const { return r_; }
  bool missing() const { return r_ == nullptr; }     // no reply at all (or past the end of an array)
  bool is_nil() const;                                // missing or a nil reply
  bool is_array() const;
  bool is_string() const;                             // a bulk string or a status
  bool is_bulk() const;                               // a bulk string only
  bool is_integer() const;
  bool is_error() const;
  // What it is, for reasons: "nothing", "nil", "a string", "an array of 3", ...
  std::string describe() const;

  // Elements of an array (0 for anything else).
  size_t size() const;
  // The i-th element of an array; a missing view when this is not an array
  // or i is past the end.
  ReplyView at(size_t i) const;
  ReplyView operator[](size_t i) const { return at(i); }

  // Typed reads: the value, or why this reply is not one.
  Result<std::string> text() const;                   // a bulk string or status
  Result<std::string> bulk() const;                   // a bulk string only
  std::optional<std::string_view> text_view() const;  // a bulk string or status, viewed
  Result<long long> integer() const;                  // an integer reply
  Result<long long> number() const;                   // an integer, or a bulk string of decimal digits
  // An array of exactly n elements / of any size / of field-value pairs (even size).
  Result<ReplyView> array(size_t n) const;
  Result<ReplyView> array() const;
  Result<ReplyView> pairs() const;
  // Every element of an array as a string (a nil or other element refuses the whole).
  Result<std::vector<std::string>> strings() const;
  // An error reply's text ("" for anything else).
  std::string error_text() const;

 private:
  const redisReply* r_ = nullptr;
};

// The reply of SCAN: [cursor, [keys...]], each key a string.
struct ScanPage {
  std::string cursor;
  std::vector<std::string> keys;
};
Result<ScanPage> decode_scan(ReplyView reply);

// A pipeline (Redis::flush) answered with exactly `want` replies, or why not.
template <class Replies>
Status expect_replies(const Replies& replies, size_t want) {
  if (replies.size() == want) return Status::ok();
  return Status::error("expected " + std::to_string(want) + " replies to the pipeline, got " +
                       std::to_string(replies.size()));
}

// SCRIPT LOAD of each script in one pipeline on redis (connected): their
// SHAs in order, for EVALSHA. Error: the pipeline failed or a script was
// refused (the reply's text).
class Redis;
Result<std::vector<std::string>> load_scripts(Redis& redis, const std::vector<const char*>& scripts);

// WAIT want timeout_ms on redis: how many replicas confirmed this
// connection's writes so far; -1 when Redis answered with no integer (it
// refused the WAIT). Error: the connection failed.
Result<long long> wait_replicas(Redis& redis, int want, int timeout_ms);

}  // namespace tether
