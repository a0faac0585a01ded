// Tickets in Redis: the keys, and every change of a ticket's state as one
// atomic step (MULTI or a Lua script). Layout (prefix from the config,
// default "tether:"):
//   {prefix}wf:{name}:queue:incoming     list   ticket ids waiting (LPUSH; taken from the right)
//   {prefix}wf:{name}:queue:processing   list   ids taken by a dispatcher (BLMOVE), until finished
//   {prefix}wf:{name}:ticket:{ticket}    hash   payload.key, payload.data, status.current,
//       status.<state>.time (unix ms), worker, runs, finished, requeued, error, run_us,
//       steps, step.<i>.{name,url,status,data,error,attempts,http_us,depth}
//   {prefix}wf:{name}:lease:{ticket}     string the runner's lease token; PEXPIRE lease_ms
// Fencing: the lease token is the holder's, fresh for every take (the
// dispatcher's random token; `runs` counts the takes, the generation). Every
// write a runner makes to its ticket (running, step records, final state)
// checks the lease in the same script as the write: a runner whose lease
// expired (paused, slow) and whose ticket another holder took writes nothing.
// States: enqueued -> dispatched -> running -> done | failed | cancelled.
// A finished ticket's hash expires after its workflow's ticket_ttl_s (EXPIRE
// set as it reaches done, failed or cancelled; removed again by a retry).
// A ticket is finished (done/failed) only by the holder of its lease, once.
//
// Thread safety: pure functions over a Redis the caller owns.
#pragma once
#include <string>
#include <vector>

#include "redis/redis.h"
#include "workflow/ticket_decode.h"

namespace tether::workflow {

std::string incoming_key(const std::string& prefix, const std::string& name);
std::string processing_key(const std::string& prefix, const std::string& name);
std::string ticket_key(const std::string& prefix, const std::string& name, const std::string& ticket);
std::string lease_key(const std::string& prefix, const std::string& name, const std::string& ticket);

// A random UUID (version 4), lower-case hex with dashes.
std::string new_ticket_id();
bool is_ticket_id(const std::string& s);
bool is_final(const std::string& status);  // done, failed, cancelled

// The hash and the LPUSH, in one script, unless incoming already holds
// max_incoming ids: returns "ok" or "full" (nothing written). data is JSON text.
Result<std::string> create_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  const std::string& key, const std::string& data_json, int64_t now_ms,
                                  int64_t max_incoming);

// After BLMOVE put the ticket in processing: takes the lease, marks it
// dispatched, clears the steps of an earlier run. Returns "ok", or the
// reason it is not to be run ("gone", "done", "failed", "cancelled",
// "not a hash" when the key holds another type, or "bad hash: ..." when a
// counter (runs, finished, requeued) is no integer: the ticket is then
// failed with that reason); then it is already removed from processing.
// Or "leased" when another holder's lease is live (one processing entry
// removed; the ticket stays that holder's).
Result<std::string> take_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                const std::string& token, int lease_ms, const std::string& worker, int64_t now_ms);
// Records step results (field, value pairs) and the step count, if the lease
// is still `token`: "ok", "lost" (nothing written) or "gone" (no hash).
Result<std::string> record_steps(Redis& redis, const std::string& name, const std::string& ticket,
                                 const std::string& token, const std::vector<std::string>& fields, int steps);
// dispatched -> running if the lease is still `token`: "ok", "lost", or the
// status that forbids it ("cancelled", "gone", ...).
Result<std::string> mark_running(Redis& redis, const std::string& name, const std::string& ticket,
                                 const std::string& token, int64_t now_ms);
// "ok" while the lease is `token`, else "lost". Checked before every step call.
Result<std::string> holds_lease(Redis& redis, const std::string& name, const std::string& ticket,
                                const std::string& token);
// Appends (pipelines) the renewal of one lease: its reply is the ticket's
// status.current, or "lost" when the lease is no longer ours.
void append_renew(Redis& redis, const std::string& name, const std::string& ticket, const std::string& token,
                  int lease_ms);
// Final state (done or failed) if the lease is still ours: returns "ok",
// "lost" (another worker has it; nothing changed), "cancelled" or "gone" (the
// hash expired meanwhile). The hash then expires after ttl_s (0: kept).
Result<std::string> finish_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                  const std::string& token, const std::string& status, const std::string& error,
                                  int64_t run_us, int64_t now_ms, int64_t ttl_s);
// A ticket left in processing without a lease (its worker died): back to the
// front of incoming. Returns "requeued", "alive" (it has a lease), "gone",
// "cleaned" (it was already finished; only the list entry was left), or
// "bad hash: ..." (a counter is no integer: failed with that reason, not requeued).
Result<std::string> reap_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms);
// Gives a taken ticket back at once: its lease released if still `token`,
// then reap_ticket (another worker takes it without waiting for lease_ms).
Result<std::string> hand_back_ticket(Redis& redis, const std::string& name, const std::string& ticket,
                                     const std::string& token, int64_t now_ms);

// Operator/API changes. Return the outcome: "cancelled" / "enqueued", or
// "missing", or "refused:<status>" naming what forbids it ("refused:done",
// "refused:running", "refused:stopping" while a cancelled run still holds its lease).
// A cancelled ticket expires after ttl_s (0: kept); a retried one no longer expires.
Result<std::string> cancel_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms,
                                  int64_t ttl_s);
Result<std::string> retry_ticket(Redis& redis, const std::string& name, const std::string& ticket, int64_t now_ms);

// One ticket read for showing: found (decoded), missing, or bad (the key is
// no hash, or the hash does not decode: why says so). An error Result means
// Redis could not be asked.
struct TicketRead {
  enum What { kFound, kMissing, kBad } what = kMissing;
  Ticket ticket;
  std::string why;
};
Result<TicketRead> read_ticket(Redis& redis, const std::string& name, const std::string& ticket);

}  // namespace tether::workflow
