// JournalService: a worker's journal and its shipper, configured from the
// "journal" section, started before the worker serves and stopped after it
// drained. While started it is the journal behind tether::journal::append.
// Thread safety: configure/start/stop from the worker's main thread;
// status() from any thread (atomics).
#pragma once
#include <memory>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "journal/journal.h"
#include "journal/shipper.h"

namespace tether::journal {

class JournalService {
 public:
  // Null when the config has no "journal" section; an error names the file
  // and the field. Opens nothing yet (tetherd --check-config calls this).
  static Result<std::unique_ptr<JournalService>> configure(const Config& c);
  ~JournalService() { stop(); }

  // Opens the journal, starts the shipper, and takes tether::journal::append.
  Status start();
  // No more appends; final fsync; the shipper ships for up to flush_ms.
  void stop(int flush_ms = 2000);

  nlohmann::json status() const;
  const JournalStats& stats() const { return stats_; }

 private:
  JournalService(JournalOptions o, RedisOptions r, std::string route)
      : opts_(std::move(o)), redis_(std::move(r)), route_(std::move(route)) {}
  JournalOptions opts_;
  RedisOptions redis_;
  std::string route_;
  JournalStats stats_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Shipper> shipper_;
};

}  // namespace tether::journal
