// The workflow engine of one worker: dispatcher, runners, lease keeper (see engine.h).
#include "workflow/engine.h"

#include <sodium.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/log.h"
#include "redis/reply.h"
#include "workflow/replication.h"
#include "workflow/runner.h"
#include "workflow/ticket_decode.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

std::string new_token() {
  unsigned char b[16];
  randombytes_buf(b, sizeof b);
  char hex[33];
  sodium_bin2hex(hex, sizeof hex, b, sizeof b);
  return hex;
}

}  // namespace

class Engine::Flow {
 public:
  Flow(const Definition& def, const RedisOptions& redis, const std::string& worker, Stats& stats)
      : def_(def), redis_(redis), worker_(worker), stats_(stats) {}

  void start() {
    if (def_.concurrency > 0) {
      dispatcher_ = std::thread([this] {
        run_thread("dispatcher", [this] { dispatch_loop(); });
        {
          std::lock_guard<std::mutex> lk(mu_);
          dispatcher_done_ = true;  // runners may end once the queue is empty
        }
        cv_.notify_all();
      });
    }
    for (int i = 0; i < def_.concurrency; ++i) {
      runners_.emplace_back([this] { run_thread("runner", [this] { runner_loop(); }); });
    }
    keeper_ = std::thread([this] { run_thread("keeper", [this] { keeper_loop(); }); });
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
      for (auto& [id, run] : running_) {
        int expected = kRunOn;
        run->stop.compare_exchange_strong(expected, kShutdown);
      }
    }
    cv_.notify_all();
    if (dispatcher_.joinable()) dispatcher_.join();
    for (auto& t : runners_) t.join();
    runners_.clear();
    if (keeper_.joinable()) keeper_.join();
  }

 private:
  struct Run {
    explicit Run(std::string t) : token(std::move(t)) {}
    std::string token;
    std::atomic<int> stop{kRunOn};
  };

  // Waits up to ms unless stopping; returns false when stopping.
  bool pause(int ms) {
    std::unique_lock<std::mutex> lk(mu_);
    return !cv_.wait_for(lk, std::chrono::milliseconds(ms), [this] { return stopping_; });
  }

  void redis_error(const char* what, const std::string& error) {
    stats_.redis_errors++;
    if (log::every(error_log_, 5000)) log::warn(what, {{"workflow", def_.name}, {"error", error}});
  }

  // A thread's body: each loop guards its own iterations, so an exception
  // here (building the thread's state) ends only this thread, and says so.
  template <class F>
  void run_thread(const char* what, F&& body) {
    std::string place = std::string("workflow.") + what;
    if (!firewall::guard(place, body)) {
      firewall::thread_stopped(place + ":" + def_.name, "an exception ended it (see errors.caught)");
    }
  }

  void dispatch_loop() {
    RedisOptions ro = redis_;
    ro.io_timeout_ms = std::max(ro.io_timeout_ms, 3000);  // longer than the blocking move
    Redis redis(ro);
    bool blmove = true;
    for (;;) {
      bool go = true;
      if (!firewall::guard("workflow.dispatcher", [&] { go = dispatch_one(redis, blmove); })) go = pause(500);
      if (!go) return;
    }
  }

  // Waits for a free runner, moves one ticket to processing and takes it.
  // False when stopping.
  bool dispatch_one(Redis& redis, bool& blmove) {
    const std::string in = incoming_key(redis_.prefix, def_.name), proc = processing_key(redis_.prefix, def_.name);
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [this] { return stopping_ || static_cast<int>(running_.size()) < def_.concurrency; });
      if (stopping_) return false;
    }
    auto moved = blmove ? redis.command({"BLMOVE", in, proc, "RIGHT", "LEFT", "1"})
                        : redis.command({"BRPOPLPUSH", in, proc, "1"});
    if (!moved) {
      if (blmove && moved.message().find("unknown command") != std::string::npos) {
        blmove = false;  // Redis before 6.2
        return true;
      }
      redis_error("workflow_dispatch_failed", moved.message());
      return pause(500);
    }
    if (moved.value()->type == REDIS_REPLY_NIL) return true;  // nothing within the timeout
    auto item = decode_queue_item(moved.value().get());
    if (!item) {
      drop_queue_item(redis, moved.value().get(), item.message());
      return true;
    }
    const std::string& id = *item;
    std::string token = new_token();
    auto taken = take_ticket(redis, def_.name, id, token, def_.lease_ms, worker_, unix_millis());
    if (!taken) {
      redis_error("workflow_take_failed", taken.message());  // left in processing: the keepers requeue it
      return true;
    }
    if (*taken == "not a hash") {
      stats_.bad_queue_items++;
      firewall::refused("ticket.bad_hash", def_.name + " " + id + ": the ticket's key holds no hash");
      return true;
    }
    if (taken->starts_with("bad hash")) {  // failed with the reason, out of processing
      firewall::refused("ticket.bad_hash", def_.name + " " + id + ": " + *taken);
      return true;
    }
    if (*taken != "ok") return true;  // cancelled or gone while it waited
    if (!replicated(redis, def_, stats_, "the taken ticket is handed back before its first step")) {
      auto back = hand_back_ticket(redis, def_.name, id, token, unix_millis());
      if (!back) redis_error("workflow_hand_back_failed", back.message());  // the keepers requeue it
      return pause(100);
    }
    stats_.taken++;
    {
      std::lock_guard<std::mutex> lk(mu_);
      auto run = std::make_shared<Run>(token);
      if (stopping_) run->stop = kShutdown;
      running_[id] = run;
      queue_.push_back(id);
    }
    cv_.notify_all();
    return true;
  }

  // A queue item that is no ticket id: removed from processing, counted.
  void drop_queue_item(Redis& redis, const redisReply* item, const std::string& why) {
    stats_.bad_queue_items++;
    firewall::refused("ticket.bad_queue_item", def_.name + ": " + why);
    auto text = ReplyView(item).bulk();
    if (!text) return;  // not a string: LREM could not name it
    auto r = redis.command({"LREM", processing_key(redis_.prefix, def_.name), "1", *text});
    if (!r) redis_error("workflow_drop_failed", r.message());
  }

  void runner_loop() {
    TicketRunner runner(def_, redis_, stats_);
    for (;;) {
      std::string id;
      std::shared_ptr<Run> run;
      {
        std::unique_lock<std::mutex> lk(mu_);
        // On stop, a ticket the dispatcher took last still reaches a runner (which hands it back).
        cv_.wait(lk, [this] { return (stopping_ && dispatcher_done_) || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping
        id = queue_.front();
        queue_.pop_front();
        run = running_[id];
      }
      stats_.running++;
      firewall::guard("workflow.runner", [&] { runner.run(id, run->token, run->stop); });
      stats_.running--;
      {
        std::lock_guard<std::mutex> lk(mu_);
        running_.erase(id);
      }
      cv_.notify_all();
    }
  }

  void keeper_loop() {
    Redis redis(redis_);
    const int interval = std::max(100, def_.lease_ms / 3);
    std::set<std::string> suspects;  // in processing without a lease at the last sweep
    while (pause(interval)) firewall::guard("workflow.keeper", [&] { keep(redis, suspects); });
  }

  // One sweep: renews this worker's leases, requeues the tickets of dead workers.
  void keep(Redis& redis, std::set<std::string>& suspects) {
    const std::string proc = processing_key(redis_.prefix, def_.name);
    std::map<std::string, std::shared_ptr<Run>> mine;
    {
      std::lock_guard<std::mutex> lk(mu_);
      mine = running_;
    }
    if (!mine.empty()) renew(redis, mine);
    auto list = redis.command({"LRANGE", proc, "0", "9999"});
    if (!list) {
      redis_error("workflow_keeper_failed", list.message());
      return;
    }
    std::vector<std::string> others;
    ReplyView items(list.value().get());
    for (size_t i = 0; i < items.size(); ++i) {
      const redisReply* e = items[i].raw();
      auto id = decode_queue_item(e);
      if (!id) {
        drop_queue_item(redis, e, id.message());
      } else if (!mine.count(*id)) {
        others.push_back(*id);
      }
    }
    if (others.empty()) {
      suspects.clear();
      return;
    }
    for (const auto& id : others) redis.append({"EXISTS", lease_key(redis_.prefix, def_.name, id)});
    auto exists = redis.flush();
    if (!exists) {
      redis_error("workflow_keeper_failed", exists.message());
      return;
    }
    std::set<std::string> leaseless;
    for (size_t i = 0; i < others.size() && i < exists->size(); ++i) {
      if (reply_integer((*exists)[i].get()) == 0) leaseless.insert(others[i]);
    }
    for (auto it = leaseless.begin(); it != leaseless.end();) {
      if (!suspects.count(*it)) {
        ++it;
        continue;
      }
      auto r = reap_ticket(redis, def_.name, *it, unix_millis());
      if (r && r->starts_with("bad hash")) firewall::refused("ticket.bad_hash", def_.name + " " + *it + ": " + *r);
      if (r && *r == "requeued") {
        stats_.requeued++;
        log::info("ticket_requeued", {{"workflow", def_.name}, {"ticket", *it}, {"why", "lease expired"}});
      }
      it = leaseless.erase(it);
    }
    suspects = std::move(leaseless);
  }

  void renew(Redis& redis, const std::map<std::string, std::shared_ptr<Run>>& mine) {
    for (auto& [id, run] : mine) append_renew(redis, def_.name, id, run->token, def_.lease_ms);
    auto replies = redis.flush();
    if (!replies) {
      redis_error("workflow_renew_failed", replies.message());
      return;
    }
    size_t i = 0;
    for (auto& [id, run] : mine) {
      if (i >= replies->size()) break;
      std::string st = reply_string((*replies)[i++].get());
      int reason = st == "lost" ? kLeaseLost : (st == "cancelled" || st == "gone") ? kCancelled : kRunOn;
      int expected = kRunOn;
      if (reason != kRunOn) run->stop.compare_exchange_strong(expected, reason);
    }
  }

  const Definition& def_;
  RedisOptions redis_;
  std::string worker_;
  Stats& stats_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool dispatcher_done_ = false;
  std::deque<std::string> queue_;                           // taken, waiting for a runner
  std::map<std::string, std::shared_ptr<Run>> running_;    // taken by this worker, queued or running
  std::thread dispatcher_, keeper_;
  std::vector<std::thread> runners_;
  std::atomic<int64_t> error_log_{0};
};

Engine::Engine(Definitions defs, RedisOptions redis, std::string worker, Stats& stats)
    : defs_(std::move(defs)), redis_(std::move(redis)), worker_(std::move(worker)), stats_(stats) {
  StepClient::global_init();
  for (auto& [name, def] : defs_) stats_.bounds[name] = Stats::Bounds{def.max_incoming, def.ticket_ttl_s};
  for (auto& [name, def] : defs_) flows_.push_back(std::make_unique<Flow>(def, redis_, worker_, stats_));
}

Engine::~Engine() { stop(); }

void Engine::start() {
  for (auto& f : flows_) f->start();
}

void Engine::stop() {
  for (auto& f : flows_) f->stop();
}

}  // namespace tether::workflow
