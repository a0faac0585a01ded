// TicketRunner: runs one ticket from its start point to its last step.
// POSTs {"key", "data", "ticket", "workflow", "step", "url"} to the start point
// ("data": the start request's; for later steps, the data of the step before),
// records each answer as step.<i>.* in the ticket hash, then runs the
// answer's next steps, all at once ("parallel": "yes") or one after the
// other, each with its own next steps after it, until no step has a next.
// A step that still fails after its retries fails the ticket, with the error
// recorded; max_depth and max_steps end a cycle in the step graph.
// A ticket whose payload does not decode (ticket_decode.h), or whose run
// throws, fails with the reason (counted): it is never handed back to the
// queue to poison the next worker.
// Fenced (tickets.h): the lease is checked before every step call and in
// the script of every write; a runner that finds another holder stops
// before its next step call and records nothing more (counted as stopped).
//
// Thread safety: none; one TicketRunner per runner thread (it owns a Redis
// connection and a StepClient). The stop flag is set by the lease keeper.
#pragma once
#include <atomic>
#include <string>

#include "redis/redis.h"
#include "workflow/definition.h"
#include "workflow/stats.h"
#include "workflow/step_client.h"

namespace tether::workflow {

// Why a run must end early; set from another thread.
enum StopReason : int { kRunOn = 0, kCancelled = 1, kLeaseLost = 2, kShutdown = 3 };

class TicketRunner {
 public:
  TicketRunner(const Definition& def, const RedisOptions& redis, Stats& stats)
      : def_(def), redis_(redis), stats_(stats) {}

  // Runs a ticket taken with this lease token, then finishes it (done or
  // failed), or on an early stop leaves it as the stop reason requires.
  void run(const std::string& ticket, const std::string& token, const std::atomic<int>& stop);

 private:
  struct Ctx;
  // Reads and decodes the payload, marks the ticket running, runs its steps.
  Status start(Ctx& ctx);
  Status run_steps(Ctx& ctx, std::vector<StepCall> calls, bool parallel, int depth);
  Status record(Ctx& ctx, const std::vector<StepCall>& calls, const std::vector<StepOutcome>& outcomes, int depth);

  const Definition& def_;
  Redis redis_;
  Stats& stats_;
  StepClient client_;
};

}  // namespace tether::workflow
