// The list store consumer (see consumer.h).
#include "journal/consumer.h"

#include "common/log.h"

namespace tether::journal {

Result<ConsumeRound> Consumer::run_once(const Handler& handler) {
  auto taken = take(redis_, domain_, opts_.batch, opts_.lease_ms);
  if (!taken) return taken.status();
  ConsumeRound round;
  for (size_t i = 0; i < taken->size(); ++i) {
    Taken& t = (*taken)[i];
    if (!t.entry) {
      log::warn("journal_entry_undecodable", {{"domain", domain_}, {"member", t.member}, {"error", t.entry.message()}});
      round.undecodable++;
      if (Status s = done(redis_, domain_, t.member); !s) return s;
      continue;
    }
    if (!handler(*t.entry)) {
      std::vector<std::string> rest;
      for (size_t k = i; k < taken->size(); ++k) rest.push_back((*taken)[k].member);
      round.failed = rest.size();
      if (Status s = release(redis_, domain_, rest); !s) return s;
      break;
    }
    if (Status s = done(redis_, domain_, t.member); !s) return s;
    round.done++;
  }
  return round;
}

}  // namespace tether::journal
