// Real hiredis replies for decoder tests, parsed from RESP text with
// hiredis' own reader: any shape a Redis node, sentinel or attacker could
// send, without a server.
#pragma once
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <string>

#include "redis/redis.h"

namespace tether::test_support {

inline RedisReply parse_resp(const std::string& resp) {
  redisReader* reader = redisReaderCreate();
  redisReaderFeed(reader, resp.data(), resp.size());
  void* out = nullptr;
  int rc = redisReaderGetReply(reader, &out);
  redisReaderFree(reader);
  EXPECT_EQ(rc, REDIS_OK) << resp;
  EXPECT_NE(out, nullptr) << resp;
  return RedisReply(static_cast<redisReply*>(out));
}

}  // namespace tether::test_support
