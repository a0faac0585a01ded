// The checkpoint writer thread (see checkpoints.h).
#include "registry/checkpoints.h"

#include <algorithm>
#include <chrono>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "redis/reply.h"
#include "registry/checkpoint_record.h"
#include "registry/recovery.h"

namespace tether {
namespace {

constexpr size_t kBatch = 1000;                 // operations per pipelined round trip
constexpr int64_t kBatchBytes = int64_t{8} << 20;  // ... or about this many bytes of state
constexpr int64_t kRetryMs = 100;               // a write that found no entry waits this long

}  // namespace

CheckpointWriter::CheckpointWriter(CheckpointWriterConfig config)
    : config_(std::move(config)), readers_(config_.redis, 4), redis_(config_.redis) {
  lags_.reserve(kLagSamples);
}

CheckpointWriter::~CheckpointWriter() { stop(); }

void CheckpointWriter::start() { thread_ = std::thread([this] { loop(); }); }

void CheckpointWriter::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CheckpointWriter::checkpoint(CheckpointRecord record) {
  SessionId sid = record.sid;
  Op op;
  op.epoch = record.epoch;
  op.at_ms = record.at_ms;
  op.record = std::move(record);
  {
    std::lock_guard<std::mutex> lock(mu_);
    add_locked(sid, std::move(op), false);
  }
  cv_.notify_one();
}

void CheckpointWriter::checkpoint_ended(const SessionId& sid, int64_t epoch) {
  Op op;
  op.del = true;
  op.epoch = epoch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    add_locked(sid, std::move(op), false);
  }
  cv_.notify_one();
}

void CheckpointWriter::add_locked(const SessionId& sid, Op op, bool oldest) {
  auto it = pending_.find(sid);
  if (it != pending_.end()) {  // newest wins: the one pending goes
    pending_bytes_ -= cost(it->second.op);
    order_.erase(it->second.age);
    pending_.erase(it);
  }
  auto age = oldest ? order_.insert(order_.begin(), sid) : order_.insert(order_.end(), sid);
  pending_bytes_ += cost(op);
  pending_.emplace(sid, Slot{std::move(op), age});
  while (pending_bytes_ > config_.max_pending_bytes) {
    size_t before = pending_.size();
    drop_oldest_locked();
    if (pending_.size() == before) break;  // only deletes left: never dropped
  }
  stats_.pending = static_cast<int64_t>(pending_.size());
  stats_.pending_bytes = pending_bytes_;
}

void CheckpointWriter::drop_oldest_locked() {
  for (auto age = order_.begin(); age != order_.end(); ++age) {
    auto it = pending_.find(*age);
    if (it == pending_.end() || it->second.op.del || it->second.op.record.keep) continue;
    pending_bytes_ -= cost(it->second.op);
    pending_.erase(it);
    order_.erase(age);
    stats_.dropped++;
    return;
  }
}

void CheckpointWriter::put_back_locked(Batch& ops) {
  // Oldest first again, in their order: each goes before the ones pending.
  for (auto op = ops.rbegin(); op != ops.rend(); ++op) {
    if (pending_.count(op->first)) continue;  // a newer one came meanwhile
    add_locked(op->first, std::move(op->second), true);
  }
  ops.clear();
}

void CheckpointWriter::note_lag(int64_t ms) {
  ms = std::max<int64_t>(0, ms);
  std::lock_guard<std::mutex> lock(lag_mu_);
  if (lags_.size() < kLagSamples) {
    lags_.push_back(ms);
  } else {
    lags_[lag_next_] = ms;
  }
  lag_next_ = (lag_next_ + 1) % kLagSamples;
  lag_max_ = std::max(lag_max_, ms);
}

bool CheckpointWriter::ensure_connected() {
  redis_.drop_if_closed();  // a restarted Redis has no scripts: load them again
  if (redis_.connected()) return true;
  Status s = redis_.connect();
  if (s) {
    auto shas = load_scripts(redis_, {registry::checkpoint_write_script(), registry::checkpoint_delete_script()});
    stats_.commands += 2;
    if (shas) {
      write_sha_ = (*shas)[0];
      delete_sha_ = (*shas)[1];
    } else {
      s = shas.status();
    }
  }
  if (!s) {
    stats_.errors++;
    redis_.close();
    down_ = true;
    if (backoff_.down()) {
      log::error("checkpoints_redis_down", {{"error", s.message()}, {"effect", "checkpoints wait (bounded), newest wins"}});
    }
    return false;
  }
  down_ = false;
  if (auto down_ms = backoff_.up()) log::info("checkpoints_redis_up", {{"down_ms", *down_ms}});
  return true;
}

bool CheckpointWriter::write(Batch& batch, bool* retry) {
  const std::string& prefix = config_.redis.prefix;
  for (auto& [sid, op] : batch) {
    std::vector<std::string> argv =
        op.del ? registry::checkpoint_delete_argv(prefix, sid, config_.me, op.epoch)
               : registry::checkpoint_write_argv(prefix, sid, config_.me, op.epoch,
                                                 registry::encode_record(config_.me, op.record), config_.ttl_ms);
    argv[0] = "EVALSHA";
    argv[1] = op.del ? delete_sha_ : write_sha_;
    redis_.append(argv);
  }
  stats_.commands += batch.size();
  auto replies = redis_.flush();
  Status failed = replies ? expect_replies(*replies, batch.size()) : replies.status();
  if (!failed) {
    stats_.errors++;
    redis_.close();
    down_ = true;
    if (backoff_.down()) {
      log::error("checkpoints_redis_down", {{"error", failed.message()}, {"effect", "checkpoints wait (bounded), newest wins"}});
    }
    std::lock_guard<std::mutex> lock(mu_);
    put_back_locked(batch);
    return false;
  }
  int64_t now = unix_millis();
  Batch again;
  for (size_t i = 0; i < batch.size(); ++i) {
    Op& op = batch[i].second;
    ReplyView r((*replies)[i].get());
    if (r.is_error()) {
      stats_.errors++;
      std::string e = r.error_text();
      if (e.rfind("NOSCRIPT", 0) == 0) redis_.close();  // scripts flushed: loaded again on reconnect
      else log::error("checkpoint_write_failed", {{"error", utf8_or_replaced(e)}});
      if (++op.tries < kNoEntryTries) again.push_back(std::move(batch[i]));
      else stats_.dropped++;
      continue;
    }
    long long n = reply_integer(r.raw());
    if (op.del) {
      if (n == 1) stats_.deleted++;
      else stats_.fenced++;
    } else if (n == 1) {
      stats_.written++;
      stats_.bytes += op.record.state.size();
      note_lag(now - op.at_ms);
    } else if (n == -1 && ++op.tries < kNoEntryTries) {
      again.push_back(std::move(batch[i]));  // the registry has not written the entry yet
    } else {
      stats_.fenced++;
    }
  }
  batch.clear();
  *retry = !again.empty();
  if (!again.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    put_back_locked(again);
  }
  return true;
}

void CheckpointWriter::loop() {
  using namespace std::chrono;
  bool retry = false;
  int64_t stop_deadline = 0;
  for (;;) {
    Batch batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (retry || backoff_.is_down()) {
        // Written again after a pause (no entry yet; Redis down): never a spin.
        cv_.wait_for(lock, milliseconds(backoff_.is_down() ? backoff_.delay_ms() : kRetryMs), [&] { return stopping_; });
      } else {
        cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      }
      if (stopping_ && stop_deadline == 0) stop_deadline = unix_millis() + config_.stop_timeout_ms;
      // Stopping: what is pending is written while Redis answers, for at most
      // stop_timeout_ms; with Redis down it is lost with the process.
      if (stopping_ && (pending_.empty() || backoff_.is_down() || unix_millis() >= stop_deadline)) {
        for (auto& [sid, slot] : pending_) {
          if (!slot.op.del) stats_.dropped++;
        }
        if (!pending_.empty()) log::warn("checkpoints_left", {{"pending", pending_.size()}, {"effect", "not written"}});
        pending_.clear();
        order_.clear();
        pending_bytes_ = 0;
        stats_.pending = 0;
        stats_.pending_bytes = 0;
        break;
      }
      int64_t bytes = 0;
      while (!order_.empty() && batch.size() < kBatch && bytes < kBatchBytes) {
        auto it = pending_.find(order_.front());
        order_.pop_front();
        if (it == pending_.end()) continue;
        bytes += cost(it->second.op);
        pending_bytes_ -= cost(it->second.op);
        if (it->second.op.record.keep && !it->second.op.del) inflight_[it->first] = it->second.op.record;
        batch.emplace_back(it->first, std::move(it->second.op));
        pending_.erase(it);
      }
      stats_.pending = static_cast<int64_t>(pending_.size());
      stats_.pending_bytes = pending_bytes_;
    }
    retry = false;
    if (batch.empty()) continue;
    bool ok = firewall::guard("checkpoints.loop", [&] {
      if (!ensure_connected()) {
        backoff_.grow();
        std::lock_guard<std::mutex> lock(mu_);
        put_back_locked(batch);
        return;
      }
      backoff_.reset();
      write(batch, &retry);
    });
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {  // something threw: what the batch still holds is tried again after a pause
      put_back_locked(batch);
      retry = true;
    }
    // Written (Redis has them) or put back (pending_ has them): readable without the copies.
    inflight_.clear();
  }
}

nlohmann::json CheckpointWriter::figures(const SessionStats& sessions) const {
  int64_t p99 = 0, max = 0;
  {
    std::lock_guard<std::mutex> lock(lag_mu_);
    if (!lags_.empty()) {
      std::vector<int64_t> sorted = lags_;
      size_t k = std::min(sorted.size() - 1, sorted.size() * 99 / 100);
      std::nth_element(sorted.begin(), sorted.begin() + static_cast<long>(k), sorted.end());
      p99 = sorted[k];
    }
    max = lag_max_;
  }
  return {{"taken", sessions.checkpoints_taken.load()},
          {"skipped_failed", sessions.checkpoints_skipped_failed.load()},
          {"skipped_too_large", sessions.checkpoints_skipped_too_large.load()},
          {"written", stats_.written.load()},
          {"written_bytes", stats_.bytes.load()},
          {"deleted", stats_.deleted.load()},
          {"fenced", stats_.fenced.load()},
          {"dropped", stats_.dropped.load()},
          {"pending", stats_.pending.load()},
          {"errors", stats_.errors.load()},
          {"commands", stats_.commands.load()},
          {"stale_records", registry::stale_record_count()},  // older epoch than the entry: a leftover, not hostile
          {"lag_ms", p99},       // p99 of the last kLagSamples: a level (a gauge in metrics)
          {"lag_max_ms", max}};  // since start: never goes down
}

}  // namespace tether
