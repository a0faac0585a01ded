// Registry: this worker's view of the Redis registry, run by one thread.
//
// Session threads report sessions created, used and ended (SessionObserver);
// the reports are coalesced per session id and written in pipelined batches
// of EVALSHA calls (compare-and-set on owner and epoch, see entries.h), so no
// request ever waits on Redis; while busy (a round wrote in the last 20 ms)
// a round waits 2 ms for more reports after the first, so that many go in
// one round trip; idle, a report is written at once. A new session's first write is two plain
// commands (HSET, PEXPIRE; entries.h append_fresh_create) instead of the
// script (EVALSHA and the three commands it runs): no other worker can have
// written an entry for an id this worker just made, unless this worker began
// to move it, and every move begins with epoch() here, which first turns a
// queued first write into the create-if-absent script and waits for one on
// the wire (a reply, bounded by the I/O timeout). A first write whose reply
// was lost, or a session ended before it, is never written unconditionally
// again (the script, or nothing). Every heartbeat the thread also writes this
// worker's heartbeat and reads the live workers into a directory that
// acceptor threads use to find peers. Everything read back is decoded
// (registry/decode.h); each round of the thread and every hook call runs
// under the exception firewall ("registry.loop", "registry.*_hook").
//
// Redis down: reports pile up (one per session id at most) and are written
// when Redis is back; after any reconnect every live session is written
// again (Redis may have lost them). The outage is logged once when it starts
// and once when it ends.
//
// Thread safety: the observer calls and lookup()/workers() are safe from any
// thread; start()/stop() from the owner. The registry thread alone uses redis_;
// other threads lease connections from the pool (redis_pool()).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "redis/backoff.h"
#include "redis/pool.h"
#include "redis/redis.h"
#include "registry/entries.h"
#include "registry/owner_book.h"
#include "session/observer.h"

namespace tether {

struct RegistryConfig {
  RedisOptions redis;
  registry::Owner me;
  bool accepting = true;         // takes new sessions (placement)
  int64_t heartbeat_ms = 1000;
  int64_t session_ttl_ms = 60000;
};

struct RegistryStats {
  std::atomic<bool> up{false};
  std::atomic<uint64_t> commands{0};  // commands sent to Redis by this worker
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> outages{0};
  std::atomic<uint64_t> lost_ownership{0};  // sessions another owner had taken
  std::atomic<uint64_t> stalls{0};          // rounds that came after a gap past the directory's window
  std::atomic<int64_t> pending{0};          // reports not yet written
};

class Registry final : public SessionObserver, public OwnerBook {
 public:
  struct Hooks {
    std::function<int64_t()> live_sessions;                                 // for the heartbeat
    std::function<std::vector<std::pair<SessionId, int64_t>>()> snapshot;  // every live session
    std::function<void(const SessionId&)> lost;  // end a session another worker owns now
    std::function<std::string()> figures;         // status JSON for the heartbeat hash (optional)
  };
  Registry(RegistryConfig config, Hooks hooks);
  ~Registry() override;
  void start();
  void stop();  // writes what is pending (bounded by the I/O timeout), then stops

  void session_created(const SessionId& sid, int64_t created_unix_ms) override;
  void session_used(const SessionId& sid, int64_t created_unix_ms) override;
  void session_ended(const SessionId& sid, EndReason reason) override;
  // new_sid is claimed create-if-absent at epoch 1 (as a new session);
  // old_sid's entry is removed by the release script, only while it names
  // this worker at the epoch held here (entries.h).
  void session_rotated(const SessionId& old_sid, const SessionId& new_sid, int64_t created_unix_ms) override;

  // The live workers as of the last heartbeat (empty before the first).
  std::shared_ptr<const std::vector<registry::WorkerInfo>> workers() const;
  // One session's entry, read now (any thread), for a session this worker
  // does not hold: an entry that cannot be decoded, or that names this
  // worker by name or by address, is reported as none. Error when Redis is down.
  Result<std::optional<registry::SessionEntry>> lookup(const SessionId& sid) override;
  // Hand-over: makes this worker the owner of sid, which `from` owned at
  // from_epoch (0: unknown, read first), by the transfer script that compares
  // owner and epoch together; an entry Redis lost is created if absent above
  // from_epoch. Later refreshes use the new epoch. Any thread. Error if
  // another worker owns it, the epoch moved meanwhile, or Redis fails.
  Status take_over(const SessionId& sid, const registry::Owner& from, int64_t from_epoch, int64_t created_ms);
  // The sender's side of a hand-over that got no answer in time: fences the
  // entry by moving it from this worker at its epoch to this worker at the
  // next, so that a receiver's late take-over fails. nullopt: the session is
  // still ours (keep serving it); an owner: the receiver took it first (drop
  // the copy here, without on_end). Error when Redis cannot tell: then sid
  // is unsettled (below) until a later reclaim tells.
  Result<std::optional<registry::Owner>> reclaim(const SessionId& sid, int64_t created_ms);
  // A reclaim of sid failed and none has told since: the receiver may own it,
  // so the copy here must not be served until settle() says whose it is.
  bool unsettled(const SessionId& sid) override;
  // Reclaims an unsettled sid again (as reclaim()).
  Result<std::optional<registry::Owner>> settle(const SessionId& sid) override;
  // The session left this worker (handed over): its pending report and epoch go.
  void forget(const SessionId& sid) override;
  // The epoch this worker holds sid at (1 unless taken over or reclaimed).
  // Fences sid's first write (above): from here on it is the create-if-absent
  // script, and one already on the wire has its reply before this returns.
  // The session route asks only for sessions that exist (not for new ids).
  int64_t epoch(const SessionId& sid) override;
  // Recovery after the owner died (recovery.cpp): reads the entry and the
  // checkpoint record, checks one against the other (a record that cannot
  // be used is counted, checkpoint.bad_record, and is no checkpoint), and
  // moves the entry with the transfer script (compare-and-set on owner and
  // epoch: of two workers that try at once, exactly one wins). Any thread.
  // gone may be this worker: an entry naming it for a session this run
  // neither holds (taken over, recovered) nor ended (its release pending)
  // was its previous run's, which died; it is recovered like any other.
  Result<registry::Recovery> recover(const SessionId& sid, const registry::Owner& gone,
                                     const std::function<bool(const std::string&)>& known_app) override;
  void set_accepting(bool accepting) { accepting_ = accepting; }
  const RegistryStats& stats() const { return stats_; }
  // This worker's Redis connections for threads other than the registry's
  // (the status and admin routes lease from it; thread-safe).
  RedisPool& redis_pool() const { return pool_; }
  const RegistryConfig& config() const { return config_; }

 private:
  struct Op {
    bool release = false;
    bool fresh = false;  // just created here, never written nor fenced: HSET + PEXPIRE, no script
    int64_t created_ms = 0;
  };
  using OpMap = std::unordered_map<SessionId, Op, SessionIdHash>;

  struct Round {  // the registry thread's state between rounds of loop()
    OpMap batch;
    std::chrono::steady_clock::time_point next_heartbeat;
    std::chrono::steady_clock::time_point last_round{};  // the end of the last round that reached Redis
    std::chrono::steady_clock::time_point last_write{};  // the last round that wrote reports (busy: coalesce)
  };
  void loop();
  bool loop_once(Round& round);  // one round; true when the thread should end
  // After a gap past the directory's window: every live session into the batch.
  void recheck_after_stall(Round& round);
  // The directory less entries naming another worker at this worker's address (counted).
  std::vector<registry::WorkerInfo> without_impostors(std::vector<registry::WorkerInfo> workers);
  bool ensure_connected();
  bool write_ops(OpMap& ops);  // false: Redis failed; ops still holds what was not written
  bool heartbeat();
  void queue(const SessionId& sid, Op op, bool wake);
  void requeue(OpMap& ops);  // every op requeued is not fresh any more (it may have been written)
  // The registry thread took these ops (under mu_): the fresh ones are on the wire until end_in_flight().
  void start_in_flight(const OpMap& batch);
  void end_in_flight();
  // epoch()'s fence of sid's first write (see the header comment).
  void fence_create(const SessionId& sid);
  void outage_started(const std::string& error);

  RegistryConfig config_;
  Hooks hooks_;
  RegistryStats stats_;
  std::atomic<bool> accepting_;
  int64_t started_ms_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  OpMap ops_;
  std::unordered_set<SessionId, SessionIdHash> in_flight_;  // fresh first writes on the wire
  std::condition_variable in_flight_cv_;                    // in_flight_ emptied
  std::atomic<size_t> fresh_{0};  // fresh ops in ops_ + in_flight_.size(): epoch() skips the lock at 0
  // Sessions ended here whose entry's release Redis has not confirmed yet
  // (queued, in a batch under way, or refused with an error): recovery
  // never takes them for sessions of a previous run (recovery.cpp).
  std::unordered_set<SessionId, SessionIdHash> releasing_;
  bool stopping_ = false;
  bool woken_ = false;  // queue() notified cv_ since the thread last took a batch
  std::thread thread_;

  // Registry thread only.
  Redis redis_;
  std::string upsert_sha_, release_sha_;
  Backoff backoff_;       // reconnects, and the outage logged once
  int64_t back_ms_ = 0;  // when Redis came back after an outage (0: never was down)

  int64_t epoch_of(const SessionId& sid);  // 1 unless taken over
  Result<std::optional<registry::Owner>> try_reclaim(const SessionId& sid, int64_t created_ms);
  std::mutex epochs_mu_;
  // The map under epochs_mu_ with its size readable without the lock, so
  // that epoch_of() (per request) takes no lock while no session is held
  // above epoch 1. Every change goes through operator[] and erase().
  struct EpochMap {
    std::unordered_map<SessionId, int64_t, SessionIdHash> map;
    std::atomic<size_t> size_now{0};
    int64_t& operator[](const SessionId& sid) {
      int64_t& v = map[sid];
      size_now.store(map.size(), std::memory_order_release);
      return v;
    }
    size_t erase(const SessionId& sid) {
      size_t n = map.erase(sid);
      size_now.store(map.size(), std::memory_order_release);
      return n;
    }
    size_t count(const SessionId& sid) const { return map.count(sid); }
    bool empty() const { return map.empty(); }
  };
  EpochMap epochs_;  // sessions taken over, epoch > 1
  std::unordered_map<SessionId, int64_t, SessionIdHash> unsettled_;  // failed reclaims: sid -> created ms
  std::atomic<size_t> unsettled_count_{0};  // unsettled_.size(), read without the lock

  mutable std::mutex dir_mu_;
  std::shared_ptr<const std::vector<registry::WorkerInfo>> dir_;

  // Connections for any other thread (lookup, hand-overs, status and admin routes).
  mutable RedisPool pool_;
};

}  // namespace tether
