// journal_bench: the journal's rows of `make bench` (driven by journal_bench.py).
//   journal_bench append --dir D --fsync always|batch|none --n N --threads T
//       appends/s of N entries from T threads into a fresh journal
//   journal_bench latency --dir D --redis-port P --n N --rate R
//       N entries at R/s (fsync batch) with the shipper on: append-to-stored-in-Redis
//       latency p50/p99 (ms), measured at Redis' acknowledgement of each batch
//   journal_bench ship --dir D --redis-port P --n N
//       N entries written with the shipper off, then shipped: entries/s
// Prints one JSON object. Main thread plus the appending threads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.h"
#include "journal/shipper.h"

using namespace tether;
using namespace tether::journal;
using Steady = std::chrono::steady_clock;  // not tether::Clock (common/clock.h)

namespace {

double seconds_since(Steady::time_point t) { return std::chrono::duration<double>(Steady::now() - t).count(); }

std::unique_ptr<Journal> open_journal(const std::string& dir, Fsync f, JournalStats& stats) {
  JournalOptions o;
  o.dir = dir;
  o.fsync = f;
  o.now_us = wall_us;
  auto j = Journal::open(o, "bench-0", stats);
  if (!j) {
    fprintf(stderr, "journal_bench: %s\n", j.message().c_str());
    exit(1);
  }
  return std::move(*j);
}

nlohmann::json fields(int i) { return {{"uri", "/page/" + std::to_string(i)}, {"priority", 50}, {"by", "bench"}}; }

int append_rate(const std::string& dir, Fsync f, int n, int threads) {
  JournalStats stats;
  auto j = open_journal(dir, f, stats);
  auto t0 = Steady::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = t; i < n; i += threads) {
        if (!j->append("bench", fields(i))) exit(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  double s = seconds_since(t0);
  j->stop();
  printf("{\"appends_per_s\": %.0f, \"seconds\": %.3f, \"fsyncs\": %llu}\n", n / s, s,
         static_cast<unsigned long long>(stats.fsyncs.load()));
  return 0;
}

RedisOptions redis_at(int port) {
  RedisOptions r;
  r.port = port;
  r.prefix = "bench:";
  return r;
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

int latency(const std::string& dir, int port, int n, int rate) {
  JournalStats stats;
  auto j = open_journal(dir, Fsync::Batch, stats);
  Shipper s(*j, redis_at(port), stats);
  std::mutex mu;
  std::vector<double> ms;
  s.on_shipped = [&](const std::vector<Entry>& batch, int64_t ack_us) {
    std::lock_guard<std::mutex> lock(mu);
    for (const Entry& e : batch) ms.push_back((ack_us - e.time_us) / 1000.0);
  };
  if (!s.start()) return 1;
  auto t0 = Steady::now();
  for (int i = 0; i < n; ++i) {
    auto due = t0 + std::chrono::microseconds(static_cast<int64_t>(i * 1e6 / rate));
    std::this_thread::sleep_until(due);  // pacing the offered load, not synchronisation
    if (!j->append("bench", fields(i))) return 1;
  }
  auto deadline = Steady::now() + std::chrono::seconds(30);
  while (stats.shipped.load() < static_cast<uint64_t>(n) && Steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  j->stop();
  s.stop(0);
  std::lock_guard<std::mutex> lock(mu);
  printf("{\"entries\": %zu, \"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f}\n", ms.size(),
         percentile(ms, 0.50), percentile(ms, 0.99), percentile(ms, 1.0));
  return ms.size() == static_cast<size_t>(n) ? 0 : 1;
}

int ship_rate(const std::string& dir, int port, int n) {
  JournalStats stats;
  auto j = open_journal(dir, Fsync::None, stats);
  for (int i = 0; i < n; ++i) {
    if (!j->append("bench", fields(i))) return 1;
  }
  Shipper s(*j, redis_at(port), stats);
  auto t0 = Steady::now();
  if (!s.start()) return 1;
  auto deadline = Steady::now() + std::chrono::seconds(120);
  while (stats.shipped.load() < static_cast<uint64_t>(n) && Steady::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  double secs = seconds_since(t0);
  j->stop();
  s.stop(0);
  printf("{\"shipped\": %llu, \"entries_per_s\": %.0f, \"batches\": %llu}\n",
         static_cast<unsigned long long>(stats.shipped.load()), stats.shipped.load() / secs,
         static_cast<unsigned long long>(stats.batches.load()));
  return stats.shipped.load() == static_cast<uint64_t>(n) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: journal_bench append|latency|ship --dir D [--fsync P] [--n N] [--threads T] "
                    "[--redis-port P] [--rate R]\n");
    return 2;
  }
  std::string mode = argv[1], dir, fsync = "batch";
  int n = 100000, threads = 1, port = 0, rate = 2000;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--dir") dir = v;
    else if (a == "--fsync") fsync = v;
    else if (a == "--n") n = std::stoi(v);
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--redis-port") port = std::stoi(v);
    else if (a == "--rate") rate = std::stoi(v);
  }
  std::map<std::string, Fsync> policies = {{"always", Fsync::Always}, {"batch", Fsync::Batch}, {"none", Fsync::None}};
  if (dir.empty() || !policies.count(fsync)) return 2;
  if (mode == "append") return append_rate(dir, policies[fsync], n, threads);
  if (mode == "latency") return latency(dir, port, n, rate);
  if (mode == "ship") return ship_rate(dir, port, n);
  return 2;
}
