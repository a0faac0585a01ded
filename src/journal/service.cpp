// A worker's journal service and the public tether::journal API (see service.h).
#include "journal/service.h"

#include <atomic>

#include "common/log.h"

namespace tether::journal {
namespace {
std::atomic<Journal*> installed{nullptr};  // the journal behind tether::journal::append
}  // namespace

Appended append(std::string_view domain, const nlohmann::json& fields) {
  Journal* j = installed.load();
  if (j == nullptr) return {false, "", "journal disabled: tether.json has no \"journal\" section"};
  auto r = j->append(domain, fields);
  if (!r) return {false, "", r.message()};
  return {true, std::move(*r), ""};
}

bool enabled() { return installed.load() != nullptr; }

Result<std::unique_ptr<JournalService>> JournalService::configure(const Config& c) {
  using R = Result<std::unique_ptr<JournalService>>;
  if (c.journal.is_null()) return std::unique_ptr<JournalService>();
  auto o = parse_options(c.journal, c.file, c.base_dir, c.route());
  if (!o) return o.status();
  if (!c.registry) return R::error(c.file + ": field 'journal': needs a \"redis\" object to ship entries to");
  return std::unique_ptr<JournalService>(new JournalService(std::move(*o), c.redis, c.route()));
}

Status JournalService::start() {
  auto j = Journal::open(opts_, route_, stats_);
  if (!j) return j.status();
  journal_ = std::move(*j);
  shipper_ = std::make_unique<Shipper>(*journal_, redis_, stats_);
  if (Status s = shipper_->start(); !s) return s;
  installed = journal_.get();
  log::info("journal_started", {{"dir", opts_.dir},
                                {"fsync", to_string(opts_.fsync)},
                                {"source", journal_->source()},
                                {"pending", stats_.pending.load()}});
  return Status::ok();
}

void JournalService::stop(int flush_ms) {
  if (!journal_) return;
  if (installed.load() == journal_.get()) installed = nullptr;
  journal_->stop();
  if (shipper_) shipper_->stop(flush_ms);
  log::info("journal_stopped", {{"appended", stats_.appended.load()},
                                {"shipped", stats_.shipped.load()},
                                {"pending", stats_.pending.load()}});
  shipper_.reset();
  journal_.reset();
}

nlohmann::json JournalService::status() const {
  const JournalStats& s = stats_;
  int64_t oldest = s.oldest_unshipped_us.load();
  return {{"fsync", to_string(opts_.fsync)},
          {"appended", s.appended.load()},
          {"append_errors", s.append_errors.load()},
          {"failed", s.failed.load()},
          {"fsyncs", s.fsyncs.load()},
          {"pending", s.pending.load()},
          {"oldest_unshipped_ms", oldest == 0 ? 0 : std::max<int64_t>(0, (wall_us() - oldest) / 1000)},
          {"shipped", s.shipped.load()},
          {"duplicates", s.duplicates.load()},
          {"replica_waits_short", s.replica_waits_short.load()},
          {"shipped_per_s", s.shipped_per_s.load()},
          {"corrupt", s.corrupt.load()},
          {"files", s.files.load()},
          {"files_deleted", s.files_deleted.load()},
          {"redis_up", s.redis_up.load()},
          {"redis_aof", to_string(static_cast<RedisAof>(s.redis_aof.load()))},
          {"redis_durable", s.redis_aof.load() == static_cast<int>(RedisAof::Unchecked)
                                ? nlohmann::json(nullptr)
                                : nlohmann::json(survives_restart(static_cast<RedisAof>(s.redis_aof.load())))},
          {"require_durable_redis", opts_.require_durable_redis},
          {"held_not_durable", s.held_not_durable.load()},
          {"outages", s.outages.load()},
          {"consumer_waiting", s.consumer_waiting.load()},
          {"consumer_leased", s.consumer_leased.load()}};
}

}  // namespace tether::journal
