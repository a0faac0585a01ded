// Tickets in Redis: the keys, and every change of a ticket's state as one
// atomic step (MULTI or a Lua script). Layout (prefix from the config,
// default "tether:"):
//   {prefix}wf:{name}:queue:incoming     list   ticket ids waiting (LPUSH; taken from the right)
//   {prefix}wf:{name}:queue:processing   list   ids taken by a dispatcher (BLMOVE), until finished
//   {prefix}wf:{name}:ticket:{ticket}    hash   payload.key, payload.data, status.current,
//       status.<state>.time (unix ms), worker, runs, finished, requeued, error, run_us,
//       steps, step.<i>.{name,url,status,data,error,attempts,http_us,depth}
//   {prefix}wf:{name}:lease:{ticket}     string the runner's lease token; PEXPIRE lease_ms
// States: enqueued -> dispatched -> running -> done | failed | cancelled.
// A ticket is finished (done/failed) only by the holder of its lease, once.
//
// Thread safety: pure functions over a Redis the caller owns.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "registry/redis.h"

namespace tether::workflow {

std::string incoming_key(const std::string& prefix, const std::string& name);
std::string processing_key(const std::string& prefix, const std::string& name);
std::string ticket_key(const std::string& prefix, const std::string& name, const std::string& ticket);
std::string lease_key(const std::string& prefix, const std::string& name, const std::string& ticket);

// A random UUID (version 4), lower-case hex with dashes.
std::string new_ticket_id();
bool is_ticket_id(const std::string& s);
bool is_final(const std::string& status);  // done, failed, cancelled

// The hash and the LPUSH, in one MULTI. data is JSON text.
Status create_ticket(Redis& redis, const std::string& name, const std::string& ticket, const std::string& key,
                     const std::string& data_json, int64_t now_ms);

// After BLMOVE put the ticket in processing: takes the lease, marks it
// dispatched, clears the steps of an earlier run. Returns "ok", or the
// reason it is not to be run ("gone", "done", "failed", "cancelled"); then it
// is already removed from processing.
Result<std::string> take_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                const std::string& token, int lease_ms, const std::string& worker, int64_t now_ms);
// Appends (pipelines) the renewal of one lease: its reply is the ticket's
// status.current, or "lost" when the lease is no longer ours.
void append_renew(Redis& redis, const std::string& name, const std::string& ticket, const std::string& token,
                  int lease_ms);
// Final state (done or failed) if the lease is still ours: returns "ok",
// "lost" (another worker has it; nothing changed) or "cancelled".
Result<std::string> finish_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  const std::string& token, const std::string& status, const std::string& error,
                                  int64_t run_us, int64_t now_ms);
// A ticket left in processing without a lease (its worker died): back to the
// front of incoming. Returns "requeued", "alive" (it has a lease), "gone",
// or "cleaned" (it was already finished; only the list entry was left).
Result<std::string> reap_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms);

// Operator/API changes. Return the outcome: "cancelled" / "enqueued", or
// "missing", or "refused:<status>" naming what forbids it ("refused:done",
// "refused:running", "refused:stopping" while a cancelled run still holds its lease).
Result<std::string> cancel_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms);
Result<std::string> retry_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms);

// The whole hash; nullopt when there is no such ticket.
Result<std::optional<std::map<std::string, std::string>>> read_ticket(Redis& redis, const std::string& name,
                                                                       const std::string& ticket);
// The hash as the API shows it: {"ticket", "workflow", "key", "data", "status",
// "times": {state: ms}, "steps": [{name, url, status, data, error, attempts, ...}], ...}.
nlohmann::json ticket_json(const std::string& name, const std::string& ticket,
                           const std::map<std::string, std::string>& hash);

}  // namespace tether::workflow
