// tetherctl journal status / consume (see journal_ctl.h).
#include "ctl/journal_ctl.h"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/flags.h"
#include "common/firewall.h"
#include "common/json.h"
#include "journal/consumer.h"
#include "journal/line.h"
#include "redis/reply.h"
#include "registry/decode.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

// The numeric figures of a journal:worker:* hash (the shipper writes them).
const std::set<std::string> kWorkerFigures = {"pending", "oldest_unshipped_ms", "shipped_per_s", "shipped", "corrupt"};

int fail(const std::string& what) {
  fprintf(stderr, "tetherctl journal: %s\n", what.c_str());
  return 1;
}

// The oldest entry of a list (by key_start_date among the first priority's).
int64_t oldest_us(Redis& redis, const std::string& domain) {
  auto r = redis.command({"ZRANGE", journal::list_key(redis.options().prefix, domain), "0", "0"});
  if (!r) return 0;
  auto first = ReplyView(r->get())[0].text();
  if (!first) return 0;  // an empty list
  const std::string& m = *first;  // "ppp|kkkkkkkkkkkkkkkk|id"
  return m.size() > 21 ? strtoll(m.substr(4, 16).c_str(), nullptr, 10) : 0;
}

int status(Redis& redis, const Options& opt) {
  auto domains = journal::domains(redis);
  if (!domains) return fail(domains.message());
  json out = {{"domains", json::array()}, {"workers", json::array()}};
  for (const auto& d : *domains) {
    auto f = journal::list_figures(redis, d);
    if (!f) return fail(f.message());
    int64_t o = oldest_us(redis, d);
    out["domains"].push_back({{"domain", utf8_or_replaced(d)}, {"waiting", f->waiting}, {"leased", f->leased},
                              {"first_waiting_age_ms", o == 0 ? 0 : (unix_millis() - o / 1000)}});
  }
  std::string cursor = "0";
  do {
    auto r = redis.command({"SCAN", cursor, "MATCH", redis.options().prefix + "journal:worker:*", "COUNT", "100"});
    if (!r) return fail(r.message());
    auto page = decode_scan(ReplyView(r->get()));
    if (!page) return fail(page.message());
    cursor = page->cursor;
    for (const std::string& k : page->keys) {
      auto h = redis.command({"HGETALL", k});
      if (!h && h.message().rfind("WRONGTYPE", 0) == 0) {
        firewall::refused("journal.bad_worker_hash", k + ": not a hash");
        continue;
      }
      if (!h) return fail(h.message());
      // Only the figures tether writes, each decoded; anything else is left out.
      json w = {{"worker", utf8_or_replaced(k.substr(k.rfind(':') + 1))}};
      ReplyView hash(h->get());
      for (size_t f = 0; f + 1 < hash.size(); f += 2) {
        std::string name(hash[f].text_view().value_or(""));  // not a string: not a figure we know
        std::string v(hash[f + 1].text_view().value_or(""));   // not a string: refused below
        if (name == "source" || name == "redis_aof") {
          w[name] = utf8_or_replaced(v);
          continue;
        }
        if (!kWorkerFigures.count(name)) continue;
        auto n = registry::decode_int(v, INT64_MIN, INT64_MAX);
        if (n) {
          w[name] = *n;
        } else {
          firewall::refused("journal.bad_worker_hash", k + " " + name + ": " + n.message());
        }
      }
      out["workers"].push_back(w);
    }
  } while (cursor != "0");
  if (opt.json) {
    printf("%s\n", json_text(out, 2).c_str());
    return 0;
  }
  printf("%-24s %10s %10s %16s\n", "DOMAIN", "WAITING", "LEASED", "FIRST AGE ms");
  for (auto& d : out["domains"]) {
    printf("%-24s %10lld %10lld %16lld\n", d["domain"].get<std::string>().c_str(), d["waiting"].get<long long>(),
           d["leased"].get<long long>(), d["first_waiting_age_ms"].get<long long>());
  }
  printf("\n%-12s %10s %18s %12s %12s %8s  %s\n", "WORKER", "PENDING", "OLDEST UNSHIPPED ms", "SHIPPED/s",
         "SHIPPED", "CORRUPT", "REDIS AOF");
  for (auto& w : out["workers"]) {
    printf("%-12s %10lld %18lld %12lld %12lld %8lld  %s\n", w["worker"].get<std::string>().c_str(),
           w.value("pending", 0LL), w.value("oldest_unshipped_ms", 0LL), w.value("shipped_per_s", 0LL),
           w.value("shipped", 0LL), w.value("corrupt", 0LL), w.value("redis_aof", std::string("?")).c_str());
  }
  return 0;
}

// Runs cmd with input on stdin; true when it exits 0.
bool run_exec(const std::string& cmd, const std::string& input) {
  FILE* p = popen(cmd.c_str(), "w");
  if (p == nullptr) return false;
  fwrite(input.data(), 1, input.size(), p);
  int st = pclose(p);
  return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int consume(Redis& redis, const std::vector<std::string>& args) {
  std::string domain, exec;
  journal::ConsumerOptions co;
  int64_t max = -1, batch = co.batch, lease_ms = co.lease_ms;
  bool once = false;
  Flags flags("consume");
  flags.text("--domain", &domain).text("--exec", &exec).flag("--once", &once);
  flags.integer("--batch", 1, 10000, &batch).integer("--lease-ms", 100, 86400000, &lease_ms);
  flags.integer("--max", 1, int64_t{1} << 62, &max);
  std::vector<std::string> positional;
  Status parsed = flags.parse(std::vector<std::string>(args.begin() + 1, args.end()), &positional);
  if (parsed && !positional.empty()) parsed = Status::error("consume: unknown argument " + positional[0]);
  if (!parsed) return fail(parsed.message()) + 1;
  co.batch = static_cast<int>(batch);
  co.lease_ms = static_cast<int>(lease_ms);
  if (domain.empty()) return fail("consume: --domain D is required") + 1;
  if (Status s = journal::check_domain(domain); !s) return fail(s.message()) + 1;
  long long done = 0;
  auto handler = [&](const journal::Entry& e) {
    std::string line = journal::entry_json(e) + "\n";
    if (!exec.empty()) return run_exec(exec, line);
    return fwrite(line.data(), 1, line.size(), stdout) == line.size() && fflush(stdout) == 0;
  };
  while (max < 0 || done < max) {
    co.batch = max < 0 ? co.batch : static_cast<int>(std::min<long long>(co.batch, max - done));
    journal::Consumer c(redis, domain, co);
    auto r = c.run_once(handler);
    if (!r) return fail(r.message());
    done += static_cast<long long>(r->done);
    if (r->failed > 0) return fail("handler failed on an entry of " + domain + "; it went back to the list");
    if (r->done + r->undecodable == 0) {
      if (once) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));  // an empty list: poll again
    }
  }
  fprintf(stderr, "tetherctl journal: %lld entries of %s done\n", done, domain.c_str());
  return 0;
}

}  // namespace

int journal(Redis& redis, const std::vector<std::string>& args, const Options& opt) {
  if (args.empty()) return fail("expected status or consume --domain D");
  if (args[0] == "status" && args.size() == 1) return status(redis, opt);
  if (args[0] == "consume") return consume(redis, args);
  return fail("unknown command journal " + args[0] + " (expected status or consume --domain D)") + 1;
}

}  // namespace tether::ctl
