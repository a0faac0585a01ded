// Decoders for everything the workflow engine reads back from Redis: a
// ticket hash (HGETALL, for the API and tetherctl), a ticket's payload
// (HMGET, for the runner) and a queue item (a ticket id popped from incoming
// or seen in processing). Anyone who can write to Redis can put anything
// there: each decoder returns a typed value or the reason it refused, and
// never throws. Strings are kept as stored (they may hold invalid UTF-8:
// write them with json_text, which replaces it); integers must be decimal
// and in range; JSON values are parsed with parse_json's depth bound.
// Callers count a refusal (firewall::refused "ticket.bad_hash",
// "ticket.bad_queue_item") and change nothing because of it.
//
// Thread safety: pure functions.
#pragma once
#include <hiredis/hiredis.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tether::workflow {

constexpr size_t kMaxTicketKeyBytes = 1024;      // payload.key, as the API accepts it
constexpr int64_t kMaxTicketSteps = 100000;      // "steps" of a ticket (max_steps allows no more)

struct TicketStep {
  std::string name, url, status;
  nlohmann::json data;  // step.<i>.data parsed, or its text when it is no JSON within the bound
  std::optional<std::string> error;
  int64_t attempts = 0, depth = 0, http_us = 0;
};

// A ticket hash, decoded (see tickets.h for the fields).
struct Ticket {
  std::string key;      // payload.key
  nlohmann::json data;  // payload.data parsed, or its text when it is no JSON within the bound
  std::string status;   // status.current: one of the states of tickets.h
  std::map<std::string, int64_t> times;  // state -> unix ms, from status.<state>.time
  std::string worker;
  int64_t runs = 0, requeued = 0, finished = 0;
  std::optional<std::string> error;
  std::optional<int64_t> run_us;
  std::vector<TicketStep> steps;
};

// What a runner needs of a ticket: payload.key and payload.data.
struct Payload {
  std::string key;      // non-empty, valid UTF-8, at most kMaxTicketKeyBytes
  nlohmann::json data;  // valid JSON nested no deeper than kMaxJsonDepth
};

// Field name -> value, from an HGETALL reply (an array of strings, in pairs).
Result<std::map<std::string, std::string>> decode_hash_reply(const redisReply* r);

// A ticket from its fields; an empty map is no ticket (nullopt).
Result<std::optional<Ticket>> decode_ticket(const std::map<std::string, std::string>& fields);
// The same from an HGETALL reply.
Result<std::optional<Ticket>> decode_ticket(const redisReply* r);

// The payload from the reply of HMGET payload.key payload.data.
Result<Payload> decode_payload(const redisReply* r);

// A ticket id from a queue (BLMOVE's reply or an LRANGE element): a string
// that is_ticket_id() accepts.
Result<std::string> decode_queue_item(const redisReply* r);

// The ticket as the API shows it: {"ticket", "workflow", "key", "data", "status",
// "times": {state: ms}, "worker", "runs", "requeued", "finished", ["error"], ["run_us"],
// "steps": [{name, url, status, data, attempts, depth, http_us, [error]}]}.
// Write it with json_text (its strings are as stored).
nlohmann::json ticket_json(const std::string& name, const std::string& id, const Ticket& t);

}  // namespace tether::workflow
