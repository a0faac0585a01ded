// Engine: the workflow side of one worker. For each workflow it runs
//  - a dispatcher thread: waits for a free runner, then moves one ticket id
//    from incoming to processing atomically (BLMOVE; BRPOPLPUSH before Redis
//    6.2) and takes its lease, so a ticket is never only in a dead worker's memory;
//  - `concurrency` runner threads, one ticket each at a time (TicketRunner);
//  - a keeper thread: every lease_ms/3 renews the leases of the tickets
//    running here (and sees cancels), and puts back in incoming the tickets
//    in processing whose lease has expired (their worker died), once seen
//    without a lease in two sweeps in a row.
// Tickets beyond the runners wait in Redis, not here.
// Every iteration of these threads runs under firewall::guard
// ("workflow.dispatcher", "workflow.runner", "workflow.keeper"): a throw is
// counted and the loop goes on; a thread that still ends says so
// (firewall::thread_stopped). A queue item that is no ticket id is removed
// and counted ("ticket.bad_queue_item"); a ticket that cannot be decoded
// or run fails with the reason (runner.h), never goes back to the queue.
//
// Thread safety: start() and stop() from the main thread; stats() anywhere.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "redis/redis.h"
#include "workflow/definition.h"
#include "workflow/stats.h"

namespace tether::workflow {

class Engine {
 public:
  // worker: this worker's route ("h1-0"), recorded in the tickets it runs.
  // stats: the worker's workflow figures (outlive the engine).
  Engine(Definitions defs, RedisOptions redis, std::string worker, Stats& stats);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void start();
  // Stops taking tickets; running ones are stopped and their leases
  // released, so another worker takes them at once. Waits for the threads.
  void stop();
  const Definitions& definitions() const { return defs_; }

 private:
  class Flow;
  Definitions defs_;
  RedisOptions redis_;
  std::string worker_;
  Stats& stats_;
  std::vector<std::unique_ptr<Flow>> flows_;
};

}  // namespace tether::workflow
