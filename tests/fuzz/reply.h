// Builds hiredis replies (redisReply trees) from a fuzzer's input, for the
// targets of the decoders that read Redis replies (ticket_fuzz,
// cache_stream_fuzz): any reply type, strings of any bytes, arrays nested a
// few levels deep. The tree owns its memory; replies point into it.
// Thread ownership: one per fuzz iteration, single-threaded.
#pragma once
#include <hiredis/hiredis.h>

#include <deque>
#include <string>
#include <vector>

#include "fuzz_input.h"

namespace tether::fuzz {

class ReplyTree {
 public:
  // A reply of any type; arrays hold at most max_elements and nest at most depth deep.
  redisReply* any(Input& in, int depth = 4, size_t max_elements = 8) {
    // hiredis 0.14 knows six types; 7 and 9 stand for RESP3's double and map,
    // which a decoder must refuse like any type it does not expect.
    static const int kTypes[] = {REDIS_REPLY_STRING,
                                 REDIS_REPLY_ARRAY,
                                 REDIS_REPLY_INTEGER,
                                 REDIS_REPLY_NIL,
                                 REDIS_REPLY_STATUS,
                                 REDIS_REPLY_ERROR,
                                 7,
                                 9,
                                 REDIS_REPLY_ARRAY,
                                 REDIS_REPLY_STRING};
    int type = kTypes[in.byte() % (sizeof kTypes / sizeof kTypes[0])];
    if (depth <= 0 && type == REDIS_REPLY_ARRAY) type = REDIS_REPLY_STRING;
    if (type == REDIS_REPLY_ARRAY) {
      std::vector<redisReply*> kids;
      for (size_t n = in.byte() % (max_elements + 1); n > 0; --n) kids.push_back(any(in, depth - 1, max_elements));
      return array(std::move(kids), type);
    }
    redisReply* r = node(type);
    if (type == REDIS_REPLY_INTEGER) {
      r->integer = static_cast<long long>(in.number(8));
    } else if (type != REDIS_REPLY_NIL) {
      set_str(r, in.string(200));
    }
    return r;
  }
  redisReply* string(std::string s) {
    redisReply* r = node(REDIS_REPLY_STRING);
    set_str(r, std::move(s));
    return r;
  }
  redisReply* nil() { return node(REDIS_REPLY_NIL); }
  redisReply* array(std::vector<redisReply*> kids, int type = REDIS_REPLY_ARRAY) {
    redisReply* r = node(type);
    arrays_.push_back(std::move(kids));
    r->elements = arrays_.back().size();
    r->element = arrays_.back().empty() ? nullptr : arrays_.back().data();
    return r;
  }

 private:
  redisReply* node(int type) {
    replies_.emplace_back();
    redisReply* r = &replies_.back();
    *r = redisReply{};
    r->type = type;
    return r;
  }
  void set_str(redisReply* r, std::string s) {
    strings_.push_back(std::move(s));
    r->str = strings_.back().data();
    r->len = strings_.back().size();
  }
  std::deque<redisReply> replies_;
  std::deque<std::string> strings_;
  std::deque<std::vector<redisReply*>> arrays_;
};

}  // namespace tether::fuzz
