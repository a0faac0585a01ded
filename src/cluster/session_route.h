// The "session" rule kind: decides which session a request belongs to from
// its session cookie (config cookie_name, default tether_sid), and where that session lives.
//   - the cookie names this worker: hand the request to the session's
//     thread, wait for the reply;
//   - it names another live worker: forward the request there and relay
//     the reply (a peer's request is never forwarded again);
//   - the owner is gone or silent for the quick timeout and the session did
//     not move: if its owner left a checkpoint (a rule with "checkpoint"),
//     take the registry entry over and restore it here under the same id
//     (reason recovered; the answer's cookie names this worker and the new
//     epoch), or, if another worker won that race, forward there
//     (registry/recovery.h). A peer's request never recovers;
//   - no usable cookie, or the owner is gone or silent for the quick
//     timeout and there is nothing to recover: make a new session where
//     placement says, and tell the app why (new, invalid, expired, lost).
// Ownership: a session whose hand-over fence failed is not served until the
// registry tells whose it is (Registry::unsettled). The cookie carries the
// session's epoch (token.h). A request
// whose token names a later epoch than the one this worker holds the
// session at is never served here (the client already had answers from a
// newer owner): it goes to the owner the registry names, or gets 503. An
// answer from an owner at a later epoch than the token's carries a new
// cookie, so a client's epoch only goes up.
// Bounds (config): a new session is made only on a worker below
// max_sessions (placement skips full ones; none left: 503 + Retry-After);
// a request for a session that has max_queued_per_session requests waiting
// already gets 429 + Retry-After: 1 and never reaches the session thread.
// Sets the cookie for a new session and clears it for an ended one. A new
// session whose first answer is 404 (the app has no such path) is ended at
// once and gets no cookie: unmatched paths make no sessions.
//
// Spec: the name of a session app registered with App::session<T>(name).
// Thread safety: immutable after construction (but for atomic log stamps and
// the recovery locks); serve() runs on acceptor
// threads concurrently (pool, codec, forwarder and placement are thread-safe).
#pragma once
#include <array>
#include <atomic>
#include <mutex>
#include <optional>

#include "cluster/call_result.h"
#include "cluster/forwarded.h"
#include "cluster/route_parts.h"
#include "config/config.h"
#include "http/router.h"
#include "registry/owner_book.h"
#include "session/pool.h"
#include "token/token.h"

namespace tether {

// The default of config cookie_name (Config::cookie_name is what is used).
inline constexpr const char* kSessionCookie = "tether_sid";
// Retry-After (seconds) of the 503 when no worker has room for a new
// session (max_sessions). A session waiting in line (max_queued_per_session)
// gets 429 with Retry-After: 1.
inline constexpr int kFullRetryAfterS = 5;


class SessionRoute final : public RouteHandler {
 public:
  // adoptions and owners may be null (no Redis): then sessions never move.
  // Production passes the worker's Forwarder, Placement, Handover and
  // Registry; unit tests pass fakes (route_parts.h).
  SessionRoute(const SessionFactory* factory, const TokenCodec& codec, SessionPool& pool, const Config& config,
               PeerLink& forwarder, Placer& placement, Adoptions* handover = nullptr, OwnerBook* registry = nullptr)
      : factory_(factory),
        codec_(codec),
        pool_(pool),
        config_(config),
        forwarder_(forwarder),
        placement_(placement),
        handover_(handover),
        registry_(registry) {}
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  enum Flags { kReissue = 1, kCreate = 2 };
  // Runs the request on this worker: the session sid if existing, else a new
  // one. kReissue: the session moved here, give it a cookie naming this
  // worker. kCreate: make a new session if sid is not here without asking
  // the registry whether it moved.
  // token_epoch: the epoch in the client's token (0: none).
  Response run_here(Request& req, bool existing, const SessionId& sid, StartReason reason, int flags = 0,
                    int64_t token_epoch = 0);
  // The client's token names epoch token_epoch of sid, later than the one
  // this worker holds it at: never serve this copy. Forward to the owner the
  // registry names at that epoch or later (and drop the copy here), else 503.
  Response stale(Request& req, const SessionId& sid, int64_t token_epoch, int64_t epoch);
  // sid's hand-over fence failed (Registry::unsettled): reclaim it again.
  // nullopt: ours, serve it; else the answer (forwarded to the receiver that
  // took it, whose copy here is dropped, or 503 while Redis cannot tell).
  std::optional<Response> settle(Request& req, const SessionId& sid);
  // The session's registry entry names an owner other than `was` (it was
  // handed over): serve it there (or here). nullopt if it did not move.
  // tried (if given): the owner it forwarded to and found silent.
  std::optional<Response> follow_move(Request& req, const SessionId& sid, const std::string& was_host, int was_worker,
                                      registry::Owner* tried = nullptr);
  // The owner of sid is gone and follow_move found nothing: recover it from
  // its checkpoint (here, or at the worker that won). nullopt: nothing to
  // recover (or it could not be restored): a new session, lost.
  // silent: an owner follow_move found silent already (not asked again).
  std::optional<Response> recover(Request& req, const SessionId& sid, registry::Owner gone, int64_t token_epoch,
                                  const registry::Owner& silent);
  // Makes the session this worker won the recovery of (restore(), then
  // on_start(Recovered)); false if the app refused the state (counted).
  bool restore(const SessionId& sid, const registry::Recovery& won);
  // Forwards req to owner: its answer, 502 if it took the request and failed,
  // nullopt if it is gone or silent (nothing ran there).
  std::optional<Response> to_owner(Request& req, const registry::Owner& owner);
  // Forwards through the forwarder, noting the time and owner for the slow log.
  CallResult forward(const std::string& addr, const Request& req, const std::string& reason,
                           const std::string& owner);
  std::string cookie_header(const std::string& value, bool https, bool clear) const;
  // 503 + Retry-After: no worker has room for a new session (logged at most every 10 s).
  Response no_room();

  const SessionFactory* factory_;
  const TokenCodec& codec_;
  SessionPool& pool_;
  const Config& config_;
  PeerLink& forwarder_;
  Placer& placement_;
  Adoptions* handover_;
  OwnerBook* registry_;
  std::atomic<int64_t> full_log_{0}, busy_log_{0}, stale_log_{0}, recover_log_{0};  // log::every stamps
  // One recovery of a session at a time on this worker (striped by id), so
  // that a second request for it waits for the first's restore and then
  // finds the session here.
  static constexpr size_t kRecoverStripes = 16;
  std::array<std::mutex, kRecoverStripes> recover_mu_;
};

}  // namespace tether
