// Consumer: takes a domain's entries from the list store in order
// (priority, then key_start_date), hands each to a handler, and removes it
// only after the handler succeeded. Entries are leased while a batch runs;
// a consumer that dies leaves them leased, and they are taken again once
// the lease expires (at-least-once: a handler must tolerate seeing an entry
// twice). Used by `tetherctl journal consume` and the demo's notes-recent.
//
//   Redis redis(opts);
//   Consumer c(redis, "notes", {.batch = 100, .lease_ms = 30000});
//   auto n = c.run_once([](const Entry& e) { return index(e.uri); });
//
// Thread safety: none; one Consumer (and its Redis) per thread.
#pragma once
#include <functional>
#include <string>

#include "journal/store.h"

namespace tether::journal {

struct ConsumerOptions {
  int batch = 100;        // entries leased per round trip
  int lease_ms = 30000;   // how long a batch may take before others may retake it
};

struct ConsumeRound {
  size_t done = 0;        // handled and removed
  size_t failed = 0;      // handler said no: that entry and the rest of the batch went back
  size_t undecodable = 0; // entries whose JSON did not decode: removed (and counted)
};

class Consumer {
 public:
  using Handler = std::function<bool(const Entry&)>;
  Consumer(Redis& redis, std::string domain, ConsumerOptions opts = {})
      : redis_(redis), domain_(std::move(domain)), opts_(opts) {}

  // One batch: lease, handle in order, remove each success. On the first
  // failure the rest of the batch is released so the order holds.
  Result<ConsumeRound> run_once(const Handler& handler);

 private:
  Redis& redis_;
  std::string domain_;
  ConsumerOptions opts_;
};

}  // namespace tether::journal
