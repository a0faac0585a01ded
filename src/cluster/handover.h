// Handover: moving sessions to other live workers when this one drains
// (SIGTERM, `tetherctl drain`), and taking in sessions another worker moves
// here.
//
// Sending (drain): each session thread offers its sessions in turn
// (SessionPool::hand_over); a session whose app gives a snapshot() is sent
// as a peer FastCGI request POST /tether/handover, signed like a forwarded
// request (Forwarder::call), to a live worker that accepts sessions (round
// robin, this host's first). The session thread waits for the answer, so a
// request for that session queued behind the move runs after it and is
// forwarded to the new owner (SessionJob::moved_to).
//
// Receiving: the worker checks the proof, restores the session on the
// thread that will own it (restore() instead of on_start), then moves the
// registry entry to itself with the transfer script that compares the
// sender and its epoch (envelope "epoch"); only then does it answer 200,
// and the sender drops its copy. A request whose cookie still names the old
// worker is served here (adopted(), for lifetime_s) and gets a cookie
// naming this worker.
//
// Bounded on both sides: the envelope carries the sender's deadline
// (deadline_ms = send time + request_timeout_s); the receiver gives up
// there too (504), and what it adopted late, or could not take in the
// registry, is dropped without on_end (the session lives on elsewhere). A
// sender without a 200 fences the entry (Registry::reclaim): if the
// receiver's take-over won the race, the session is treated as moved (no
// on_end); else it stays, and any later take-over fails. A fence Redis
// could not answer leaves the session unsettled (Registry::unsettled): its
// requests get 503 until a reclaim tells whose it is (SessionRoute).
//
// Snapshots travel as JSON text: strings in a session's state must be UTF-8
// (invalid sequences arrive as U+FFFD; keep binary data base64-encoded), and
// the state may nest at most kMaxJsonDepth (common/json.h) deep. A body that
// does not decode is refused (400, counted as handover.bad_envelope): the
// sender keeps the session, and it ends drained.
//
// Thread safety: move_all() from the control thread; send() runs on session
// threads; receive() and adopted() on acceptor threads. The adopted set is
// locked; the forwarder is thread-safe.
#pragma once
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/config.h"
#include "cluster/forwarded.h"
#include "http/router.h"
#include "registry/registry.h"
#include "session/pool.h"
#include "cluster/forwarder.h"
#include "cluster/route_parts.h"

namespace tether {

inline constexpr const char* kHandoverPath = "/tether/handover";

class Handover final : public Adoptions {
 public:
  Handover(const Config& config, Forwarder& forwarder, SessionPool& pool, Registry& registry,
           const std::map<std::string, SessionFactory>& apps)
      : config_(config), forwarder_(forwarder), pool_(pool), registry_(registry), apps_(apps) {}

  // Moves every session that has a snapshot; returns how many moved.
  size_t move_all();
  // POST /tether/handover from a verified peer.
  Response receive(const Request& req, const Forwarded& from);
  // A session moved here from another worker (its cookie names that worker).
  // True within lifetime_s of the move (no cookie issued before it is valid later).
  bool adopted(const SessionId& sid) const override;
  void recovered(const SessionId& sid) override;
  const SessionFactory* app(const std::string& name) const override {
    auto it = apps_.find(name);
    return it == apps_.end() ? nullptr : &it->second;
  }
  size_t adopted_count() const;  // entries kept (pruned on each adoption)
  // From now on, sessions offered to this worker are refused (it is leaving too).
  void set_draining() { draining_ = true; }
  // A hand-over body decoded: an object with sid (32 hex), app (string),
  // state (any), and, if present, created, requests and deadline_ms
  // (integers >= 0), epoch (integer >= 1) and
  // start_reason (string); else the reason it is refused (answered 400).
  static Result<nlohmann::json> decode_envelope(const std::string& body);

 private:
  // On a session thread: the address of the worker that took it, or "".
  // Never throws: what throws in try_send() is caught, counted, and the session stays.
  std::string send(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope);
  std::string try_send(const SessionId& sid, const SessionFactory* factory, const nlohmann::json& envelope);
  std::string app_name(const SessionFactory* factory) const;

  const Config& config_;
  Forwarder& forwarder_;
  SessionPool& pool_;
  Registry& registry_;
  const std::map<std::string, SessionFactory>& apps_;
  std::atomic<uint64_t> turn_{0};
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> no_target_log_{0};
  mutable std::mutex mu_;
  // Sessions adopted here -> when (unix ms); pruned past lifetime_s.
  std::unordered_map<SessionId, int64_t, SessionIdHash> adopted_;
  int64_t last_prune_ms_ = 0;
  void prune_locked(int64_t now_ms);
};

}  // namespace tether
