// Services: the worker's long-running parts (registry, bus, journal, cache,
// session threads, hand-over, workflow engine, FastCGI server), each with a
// start and a stop, started in the order they were added and stopped in
// the reverse order (after Seastar's start()/stop()). Teardown never
// depends on the order members are declared in:
//   - start() stops what it already started, in reverse, when one part
//     fails to start, and returns that part's error;
//   - stop() stops every started part, in reverse, once (later calls do
//     nothing); the destructor calls it, so every path out of the worker,
//     failed starts included, stops threads before the objects their hooks
//     reach are destroyed. Declare the Services member last, so it is
//     destroyed first.
//
// Thread ownership: the worker's main thread only (add, start, stop).
#pragma once
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "common/result.h"

namespace tether {

class Services {
 public:
  Services() = default;
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;
  ~Services() { stop(); }

  // Appends a part. start returns Status (its error stops the start-up) or
  // nothing (it cannot fail); stop must not throw, and runs only if start
  // succeeded.
  template <class Start>
  void add(std::string name, Start start, std::function<void()> stop) {
    if constexpr (std::is_void_v<std::invoke_result_t<Start&>>) {
      parts_.push_back(Part{std::move(name),
                            [start = std::move(start)]() mutable {
                              start();
                              return Status::ok();
                            },
                            std::move(stop), false});
    } else {
      parts_.push_back(Part{std::move(name), std::move(start), std::move(stop), false});
    }
  }
  // Starts every part not yet started, in order. On a failure: stops the
  // started ones in reverse and returns "<name>: <error>".
  Status start();
  // Stops every started part in reverse order; idempotent.
  void stop();
  // Names of the started parts, in start order (for logs and tests).
  std::vector<std::string> running() const;

 private:
  struct Part {
    std::string name;
    std::function<Status()> start;
    std::function<void()> stop;
    bool running = false;
  };
  std::vector<Part> parts_;
};

}  // namespace tether
