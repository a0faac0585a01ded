// The list store in Redis: where shipped entries live until a consumer is
// done with them (the snaplistd model). With the default prefix "tether:":
//
//   tether:list:{domain}          zset   score = priority, member =
//                                        "{priority:03}|{key_start_date:016}|{id}": ZRANGE gives
//                                        priority order, then time (members of one score sort as strings)
//   tether:list:{domain}:entries  hash   member -> the entry's JSON (line.h)
//   tether:list:{domain}:leased   zset   member -> lease expiry (Redis TIME, ms); taken, not done
//   tether:journal:shipped        hash   source -> highest seq stored (makes shipping idempotent)
//   tether:journal:domains        set    every domain ever shipped to
//
// Every change is one Lua script, so it is atomic. Shipping stores an entry
// only if its seq is above its source's mark: a batch sent again after a
// lost acknowledgement (or a worker restart before its checkpoint moved) is
// not stored twice, even if a consumer removed the first copy meanwhile.
// Keys are built inside the scripts: one Redis, not Redis Cluster.
// Thread safety: plain functions over a Redis the caller owns.
#pragma once
#include <string>
#include <vector>

#include "common/result.h"
#include "redis/redis.h"
#include "tether/journal.h"

namespace tether::journal {

std::string list_member(const Entry& e);
std::string list_key(const std::string& prefix, const std::string& domain);

// Stores a batch of one source's entries, in seq order. Returns how many
// were new (the rest were already stored).
Result<long long> ship_batch(Redis& redis, const std::vector<Entry>& batch);

// A consumer's view of one list.
struct Taken {
  std::string member;
  Result<Entry> entry = Status::error("");  // an entry whose JSON does not decode is an error here
};
// Leases up to n entries of domain, in order, for lease_ms. Entries whose
// lease expired go back to the list first.
Result<std::vector<Taken>> take(Redis& redis, const std::string& domain, int n, int lease_ms);
// Removes a taken entry for good.
Status done(Redis& redis, const std::string& domain, const std::string& member);
// Puts taken entries back in the list now (their handler failed).
Status release(Redis& redis, const std::string& domain, const std::vector<std::string>& members);

struct ListFigures {
  long long waiting = 0;  // in the list
  long long leased = 0;   // taken, not done
};
Result<ListFigures> list_figures(Redis& redis, const std::string& domain);
Result<std::vector<std::string>> domains(Redis& redis);

}  // namespace tether::journal
