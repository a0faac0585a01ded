// Running one ticket's steps (see runner.h).
#include "workflow/runner.h"

#include <chrono>

#include "common/clock.h"
#include "common/firewall.h"
#include "common/json.h"
#include "common/log.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

const char* stop_name(int reason) {
  switch (reason) {
    case kCancelled: return "cancelled";
    case kLeaseLost: return "lease lost";
    case kShutdown: return "worker shutting down";
    default: return "running";
  }
}

}  // namespace

struct TicketRunner::Ctx {
  std::string ticket;
  std::string key;
  const std::atomic<int>* stop;
  std::string token;      // the lease this run holds
  bool lease_lost = false;  // a fenced write or check found another holder: stop, record nothing
  int steps = 0;  // recorded so far
};

Status TicketRunner::start(Ctx& ctx) {
  const std::string hkey = ticket_key(redis_.options().prefix, def_.name, ctx.ticket);
  auto reply = redis_.command({"HMGET", hkey, "payload.key", "payload.data"});
  if (!reply && !redis_.connected()) {
    // This runner's connection idled since its last ticket and died with a
    // Redis restart: one read again on a fresh connection (nothing was written).
    reply = redis_.command({"HMGET", hkey, "payload.key", "payload.data"});
  }
  if (!reply) return Status::error("could not read the ticket: " + reply.message());
  auto payload = decode_payload(reply->get());
  if (!payload) {
    // Poison written into Redis: the ticket fails with the reason, once.
    stats_.bad_tickets++;
    firewall::refused("ticket.bad_hash", def_.name + " " + ctx.ticket + ": " + payload.message());
    return Status::error("the ticket cannot be run: " + payload.message());
  }
  ctx.key = payload->key;
  // Only a dispatched ticket whose lease is still ours becomes running: a
  // DELETE that came after the take stays cancelled, and a ticket another
  // holder took meanwhile is not touched.
  auto r = mark_running(redis_, def_.name, ctx.ticket, ctx.token, unix_millis());
  if (!r) return r.status();
  if (*r == "lost") {
    ctx.lease_lost = true;
    return Status::error("lease lost");
  }
  if (*r != "ok") return Status::error("cancelled before it ran");
  std::string url = substitute_key(def_.start_point_url, ctx.key);
  nlohmann::json body = {{"key", ctx.key}, {"data", payload->data}, {"ticket", ctx.ticket}, {"workflow", def_.name},
                         {"step", "start"}, {"url", url}};
  return run_steps(ctx, {StepCall{"start", url, json_text(body)}}, true, 1);
}

void TicketRunner::run(const std::string& ticket, const std::string& token, const std::atomic<int>& stop) {
  int64_t t0 = steady_us();
  Ctx ctx{ticket, "", &stop, token};
  Status result = Status::ok();
  // Whatever throws below fails this ticket (with the reason) instead of the worker.
  try {
    result = start(ctx);
  } catch (const std::exception& e) {
    firewall::caught("workflow.runner", e.what());
    result = Status::error(std::string("the runner failed: ") + e.what());
  } catch (...) {
    firewall::caught("workflow.runner", "a non-standard exception");
    result = Status::error("the runner failed");
  }
  int reason = ctx.lease_lost ? kLeaseLost : stop.load();
  if ((reason == kShutdown && !result) || reason == kLeaseLost) {
    // Not ours to finish: a lost lease belongs to another worker now; on
    // shutdown the lease is released so another worker takes the ticket at once.
    stats_.stopped++;
    if (reason == kShutdown) (void)hand_back_ticket(redis_, def_.name, ticket, token, unix_millis());
    log::info("ticket_stopped", {{"workflow", def_.name}, {"ticket", ticket}, {"why", stop_name(reason)}});
    return;
  }
  std::string status = result ? "done" : "failed";
  auto fin = finish_ticket(redis_, def_.name, ticket, token, status, result.message(), steady_us() - t0,
                           unix_millis(), def_.ticket_ttl_s);
  if (!fin) {
    stats_.redis_errors++;
    log::warn("ticket_finish_failed", {{"workflow", def_.name}, {"ticket", ticket}, {"error", fin.message()}});
  } else if (*fin == "ok") {
    (result ? stats_.done : stats_.failed)++;
  } else {
    stats_.stopped++;  // cancelled meanwhile, or the lease went to another worker
  }
}

Status TicketRunner::run_steps(Ctx& ctx, std::vector<StepCall> calls, bool parallel, int depth) {
  if (!parallel && calls.size() > 1) {
    for (auto& c : calls) {
      if (Status s = run_steps(ctx, {std::move(c)}, true, depth); !s) return s;
    }
    return Status::ok();
  }
  if (ctx.stop->load() != kRunOn) return Status::error(stop_name(ctx.stop->load()));
  if (depth > def_.max_depth) {
    return Status::error("max_depth " + std::to_string(def_.max_depth) + " exceeded at step '" + calls[0].name +
                         "' (a cycle in the step graph?)");
  }
  if (ctx.steps + static_cast<int>(calls.size()) > def_.max_steps) {
    return Status::error("max_steps " + std::to_string(def_.max_steps) + " exceeded at step '" + calls[0].name +
                         "' (a cycle in the step graph?)");
  }
  // Fenced: a runner paused past its lease (the keeper has not seen it yet)
  // learns here, before the call, that another holder has the ticket.
  auto held = holds_lease(redis_, def_.name, ctx.ticket, ctx.token);
  if (!held) {
    stats_.redis_errors++;
    return Status::error("could not check the lease: " + held.message());
  }
  if (*held != "ok") {
    ctx.lease_lost = true;
    return Status::error(stop_name(kLeaseLost));
  }
  int64_t retries_before = client_.retries();
  auto outcomes = client_.run(calls, def_, [&] { return ctx.stop->load() != kRunOn; });
  stats_.step_retries += client_.retries() - retries_before;
  if (Status s = record(ctx, calls, outcomes, depth); !s) return s;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (!outcomes[i].ok) {
      return Status::error("step '" + calls[i].name + "' (" + calls[i].url + ") failed after " +
                           std::to_string(outcomes[i].attempts) + " attempt(s): " + outcomes[i].error);
    }
  }
  for (auto& o : outcomes) {
    if (o.result.next.empty()) continue;
    std::vector<StepCall> next;
    for (const auto& n : o.result.next) {
      nlohmann::json body = {{"key", ctx.key}, {"data", o.result.data}, {"ticket", ctx.ticket},
                             {"workflow", def_.name}, {"step", n.name}, {"url", n.url}};
      next.push_back(StepCall{n.name, n.url, json_text(body)});
    }
    if (Status s = run_steps(ctx, std::move(next), o.result.parallel, depth + 1); !s) return s;
  }
  return Status::ok();
}

Status TicketRunner::record(Ctx& ctx, const std::vector<StepCall>& calls, const std::vector<StepOutcome>& outcomes,
                            int depth) {
  std::vector<std::string> argv;
  int steps = ctx.steps;
  for (size_t i = 0; i < calls.size(); ++i) {
    const StepOutcome& o = outcomes[i];
    std::string p = "step." + std::to_string(steps++) + ".";
    std::vector<std::string> f{p + "name", o.ok ? o.result.name : calls[i].name,
                               p + "url", calls[i].url,
                               p + "status", o.ok ? "done" : "failed",
                               p + "data", o.ok ? json_text(o.result.data) : "null",
                               p + "attempts", std::to_string(o.attempts),
                               p + "http_us", std::to_string(o.http_us),
                               p + "depth", std::to_string(depth)};
    if (!o.ok) f.insert(f.end(), {p + "error", o.error});
    argv.insert(argv.end(), f.begin(), f.end());
  }
  auto r = record_steps(redis_, def_.name, ctx.ticket, ctx.token, argv, steps);
  if (!r) {
    stats_.redis_errors++;
    return Status::error("could not record the step: " + r.message());
  }
  if (*r == "lost") {
    ctx.lease_lost = true;
    return Status::error(stop_name(kLeaseLost));
  }
  if (*r != "ok") return Status::error("the ticket is " + *r);
  ctx.steps = steps;
  stats_.steps += static_cast<int64_t>(calls.size());
  return Status::ok();
}

}  // namespace tether::workflow
