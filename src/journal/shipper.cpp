// The journal shipper thread (see shipper.h).
#include "journal/shipper.h"

#include <unistd.h>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/log.h"
#include "journal/store.h"
#include "redis/reply.h"

namespace tether::journal {

Shipper::Shipper(Journal& journal, RedisOptions redis, JournalStats& stats)
    : journal_(journal), redis_(std::move(redis)), stats_(stats), backoff_(journal.options().backoff_max_ms) {}

Status Shipper::start() {
  auto cp = load_checkpoint(journal_.dir());
  if (!cp) return Status::error("journal: " + cp.message());
  reader_ = JournalReader(journal_.dir(), *cp);
  // Lines on disk after the checkpoint, less those this process appended
  // already (counted again in stats_.appended).
  base_pending_ = reader_.count_lines() - stats_.appended.load();
  stats_.pending = static_cast<int64_t>(base_pending_);
  // Redis down now: read once it is back, before the first batch ships.
  if (auto p = read_persistence(redis_)) {
    persistence_read_ = true;
    if (Status s = judge(*p); !s) return s;
  }
  thread_ = std::thread([this] {
    // A throw ends one pass: what was not acknowledged is still on disk, so
    // the next pass (after a second's pause) reads it again.
    while (!firewall::guard("journal.shipper", [this] { loop(); })) {
      if (wait_stop(1000)) break;
    }
  });
  return Status::ok();
}

void Shipper::stop(int flush_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    flush_deadline_ms_ = unix_millis() + flush_ms;
  }
  cv_.notify_all();
  thread_.join();
}

bool Shipper::wait_stop(int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return stopping_; });
  return stopping_;
}

Status Shipper::judge(const Persistence& p) {
  stats_.redis_aof = static_cast<int>(p.aof);
  const bool ok = survives_restart(p.aof);
  const bool require = journal_.options().require_durable_redis;
  stats_.held_not_durable = !ok && require;
  if (p.aof != logged_aof_) {
    logged_aof_ = p.aof;
    std::string what = p.aof == RedisAof::Off ? "Redis runs without AOF (appendonly no)"
                       : p.aof == RedisAof::Unknown ? "Redis' persistence is unknown: " + p.why
                                                    : std::string("Redis AOF: ") + to_string(p.aof);
    if (ok) {
      log::info("journal_redis_persistence", {{"redis", what}});
    } else {
      log::error("journal_redis_not_durable",
                 {{"redis", what},
                  {"effect", require ? "journal.require_durable_redis: entries stay on disk, not shipped, until Redis "
                                       "runs with appendonly yes"
                                     : "acknowledged entries not yet consumed are lost if Redis restarts; run it with "
                                       "--appendonly yes --appendfsync everysec (or set "
                                       "journal.require_durable_redis to refuse)"}});
    }
  }
  if (ok || !require) return Status::ok();
  return Status::error("journal: journal.require_durable_redis is true and " +
                       std::string(p.aof == RedisAof::Off ? "Redis runs with appendonly no"
                                                          : "Redis' persistence cannot be read (" + p.why + ")") +
                       ": acknowledged entries would not survive a Redis restart");
}

bool Shipper::durable_enough() {
  if (persistence_read_ && !stats_.held_not_durable.load()) return true;
  auto p = read_persistence(redis_);
  if (!p) {
    outage(p.message());
    return false;
  }
  persistence_read_ = true;
  return static_cast<bool>(judge(*p));
}

void Shipper::outage(const std::string& error) {
  stats_.redis_up = false;
  persistence_read_ = false;  // read again once Redis is back: it may have restarted with other settings
  redis_.close();
  if (!backoff_.down()) return;  // logged when it began
  stats_.outages++;
  log::error("journal_redis_down", {{"error", error}, {"effect", "entries wait on disk; shipping resumes when "
                                                                  "Redis is back"}});
}

bool Shipper::ship(Batch& batch) {
  if (!durable_enough()) return false;
  auto stored = ship_batch(redis_, batch.entries);
  if (!stored) {
    outage(stored.message());
    return false;
  }
  if (!replicated()) return false;  // shipped again later: idempotent
  int64_t ack = wall_us();
  redis_back();
  stats_.shipped += batch.entries.size();
  stats_.duplicates += batch.entries.size() - static_cast<uint64_t>(*stored);
  stats_.batches++;
  for (const Entry& e : batch.entries) domains_.insert(e.domain);
  if (on_shipped) on_shipped(batch.entries, ack);
  return true;
}

bool Shipper::replicated() {
  const int want = journal_.options().min_replicas_ack;
  if (want <= 0) return true;
  auto have = wait_replicas(redis_, want, journal_.options().replicas_ack_timeout_ms);
  if (!have) {
    outage(have.message());
    return false;
  }
  if (*have >= want) return true;
  stats_.replica_waits_short++;
  if (log::every(replica_log_, 10000)) {
    log::warn("journal_replicas_behind", {{"min_replicas_ack", want}, {"confirmed", *have},
                                          {"effect", "the checkpoint waits; the batch is shipped again"}});
  }
  return false;
}

void Shipper::redis_back() {
  if (auto down_ms = backoff_.up()) log::info("journal_redis_up", {{"down_ms", *down_ms}});
  stats_.redis_up = true;
}

void Shipper::commit(const Batch& batch) {
  bool moved_file = batch.end.file != reader_.position().file;
  reader_.advance(batch.end);
  consumed_ += batch.lines;
  stats_.corrupt += batch.corrupt;
  checkpoint_dirty_ = true;
  // The checkpoint may lag behind Redis (a crash then re-sends what Redis
  // ignores), never run ahead of it. Written at most every 100 ms under
  // load, and always before a file is deleted and when idle.
  if (moved_file || unix_millis() - checkpoint_ms_ >= 100) save();
  if (moved_file) delete_old_files();
}

void Shipper::save() {
  if (!checkpoint_dirty_) return;
  checkpoint_ms_ = unix_millis();
  checkpoint_dirty_ = false;
  if (Status s = save_checkpoint(journal_.dir(), reader_.position()); !s) {
    log::error("journal_checkpoint_failed", {{"error", s.message()}, {"effect", "entries may be sent again after a "
                                                                                "restart (Redis ignores them)"}});
  }
}

void Shipper::delete_old_files() {
  auto files = list_files(journal_.dir());
  if (!files) return;
  const int64_t period = journal_.options().rollover_s;
  const int64_t current = journal_.options().now_us() / 1000000 / period * period;
  int64_t left = 0;
  for (const auto& f : *files) {
    auto p = file_period(f);
    // Wholly acknowledged, and neither the current nor the previous period's.
    if (f < reader_.position().file && p && *p < current - period) {
      if (::unlink((journal_.dir() + "/" + f).c_str()) == 0) {
        stats_.files_deleted++;
        continue;
      }
    }
    left++;
  }
  stats_.files = left;
}

void Shipper::tick() {
  int64_t now = unix_millis();
  if (now - last_tick_ms_ < 1000) return;
  uint64_t shipped = stats_.shipped.load();
  if (last_tick_ms_ != 0) {
    stats_.shipped_per_s = static_cast<double>(shipped - last_tick_shipped_) * 1000.0 / (now - last_tick_ms_);
  }
  last_tick_ms_ = now;
  last_tick_shipped_ = shipped;
  delete_old_files();
  if (backoff_.is_down()) {  // idle during an outage: is Redis back?
    if (!redis_.command({"PING"})) return;
    redis_back();
  }
  ListFigures sum;
  for (const auto& d : domains_) {
    auto f = list_figures(redis_, d);
    if (!f) return;
    sum.waiting += f->waiting;
    sum.leased += f->leased;
  }
  stats_.consumer_waiting = sum.waiting;
  stats_.consumer_leased = sum.leased;
  // This worker's figures for `tetherctl journal status`; gone 10 s after it stops.
  const std::string& src = journal_.source();
  std::string key = redis_.options().prefix + "journal:worker:" + src.substr(0, src.rfind('.'));
  int64_t oldest = stats_.oldest_unshipped_us.load();
  redis_.append({"HSET", key, "pending", std::to_string(stats_.pending.load()), "oldest_unshipped_ms",
                 std::to_string(oldest == 0 ? 0 : (wall_us() - oldest) / 1000), "shipped_per_s",
                 std::to_string(static_cast<int64_t>(stats_.shipped_per_s.load())), "shipped",
                 std::to_string(stats_.shipped.load()), "corrupt", std::to_string(stats_.corrupt.load()),
                 "source", src, "redis_aof", to_string(static_cast<RedisAof>(stats_.redis_aof.load()))});
  redis_.append({"PEXPIRE", key, "10000"});
  if (auto r = redis_.flush(); !r) outage(r.message());
}

void Shipper::loop() {
  uint64_t seen = 0;
  delete_old_files();
  for (;;) {
    update_pending();
    Checkpoint committed = journal_.committed();  // before the reader lists the files
    Batch batch = reader_.read(static_cast<size_t>(journal_.options().batch_max), &committed);
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping = stopping_;
    }
    if (batch.entries.empty()) {
      stats_.oldest_unshipped_us = 0;
      if (batch.lines > 0 || batch.end.file != reader_.position().file) {
        commit(batch);
        continue;
      }
      save();
      tick();
      if (stopping) break;
      seen = journal_.wait_appended(seen, 100);
      continue;
    }
    stats_.oldest_unshipped_us = batch.entries.front().time_us;
    bool acked = ship(batch);
    while (!acked && !stopping) {
      update_pending();
      stopping = wait_stop(static_cast<int>(backoff_.delay_ms()));
      backoff_.grow();
      if (!stopping) acked = ship(batch);
    }
    if (!acked) break;  // stopping while Redis is down: the batch stays on disk
    commit(batch);
    update_pending();
    tick();
    if (stopping && unix_millis() > flush_deadline_ms_) break;
  }
  update_pending();
  save();
}

void Shipper::update_pending() {
  stats_.pending = static_cast<int64_t>(base_pending_ + stats_.appended.load() - consumed_);
}

}  // namespace tether::journal
