// tether::App: an application registers its session types by name, then
// run() parses the command line, reads tether.json and serves until SIGTERM.
//
//   struct Counter : tether::Session {
//     int n = 0;
//     tether::Response handle(const tether::Request&) override {
//       return tether::Response::text("n=" + std::to_string(++n));
//     }
//   };
//   int main(int argc, char** argv) {
//     tether::App app;
//     app.session<Counter>("counter");  // named by "session" dispatch rules
//     return app.run(argc, argv);
//   }
//
// Register everything before run(); App is used from the main thread only.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tether/cache.h"
#include "tether/session.h"

namespace tether {

using SessionFactory = std::function<std::unique_ptr<Session>()>;
// A stateless handler: runs on the acceptor thread that read the request,
// concurrently with itself, so it must be thread-safe. Must not throw.
using Controller = std::function<Response(const Request&)>;

// A worker that could take a new session, for a placement hook.
struct PlacementCandidate {
  std::string host;
  int worker = 0;
  int64_t sessions = 0;  // at its last heartbeat
};
// Picks the index of the worker a new session goes to ("placement": "app").
// Runs on acceptor threads: must be thread-safe and must not throw.
using PlacementHook = std::function<size_t(const Request&, const std::vector<PlacementCandidate>&)>;

class App {
 public:
  App();
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  template <class T>
  void session(std::string name) {
    add_session(std::move(name), [] { return std::unique_ptr<Session>(new T()); });
  }
  void add_session(std::string name, SessionFactory factory);
  // A stateless handler, named by "controller" dispatch rules.
  void controller(std::string name, Controller handler);
  // Where new sessions go when tether.json says "placement": "app".
  void placement(PlacementHook hook);
  // An is_cacheable hook, named by a rule's "cache": {"hook": name}. Runs on
  // acceptor threads: must be thread-safe and must not throw.
  void cache_hook(std::string name, cache::Hook hook);

  // Flags: --config FILE (default tether.json), --worker N, --listen ADDR,
  // --host ID. Returns the process exit code: 0 after a clean drain,
  // 2 for bad configuration, 1 for other start-up failures.
  int run(int argc, char** argv);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tether
