// tetherctl workflow commands (see workflow_ctl.h).
#include "ctl/workflow_ctl.h"

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "common/json.h"
#include "redis/reply.h"
#include "workflow/definition.h"
#include "workflow/tickets.h"

namespace tether::ctl {
namespace {

using nlohmann::json;

int complain(const std::string& what) {
  fprintf(stderr, "tetherctl: workflow: %s\n", what.c_str());
  return 1;
}

// The workflow a ticket belongs to, found by SCAN.
Result<std::string> workflow_of(Redis& redis, const std::string& ticket) {
  if (!workflow::is_ticket_id(ticket)) return Result<std::string>::error("expected a ticket UUID, got \"" + ticket + "\"");
  std::string head = redis.options().prefix + "wf:";
  auto keys = scan_keys(redis, head + "*:ticket:" + ticket);
  if (!keys) return keys.status();
  if (keys->empty()) return Result<std::string>::error("no ticket " + ticket);
  const std::string& k = keys->front();
  return k.substr(head.size(), k.size() - head.size() - 8 - ticket.size());
}

// Tickets of one workflow: id -> (status, key, enqueued time, steps).
Result<json> tickets_of(Redis& redis, const std::string& name, size_t limit, std::map<std::string, int64_t>* by_status) {
  std::string head = workflow::ticket_key(redis.options().prefix, name, "");
  auto keys = scan_keys(redis, head + "*");
  if (!keys) return keys.status();
  json rows = json::array();
  for (size_t i = 0; i < keys->size(); i += 1000) {
    size_t end = std::min(keys->size(), i + 1000);
    for (size_t k = i; k < end; ++k) {
      redis.append({"HMGET", (*keys)[k], "status.current", "payload.key", "status.enqueued.time", "steps", "worker"});
    }
    auto replies = redis.flush();
    if (!replies) return replies.status();
    if (Status n = expect_replies(*replies, end - i); !n) return n;
    for (size_t k = i; k < end; ++k) {
      ReplyView h((*replies)[k - i].get());
      if (!h.array(5)) continue;  // not a hash
      // A field that is absent (nil) or unreadable shows as "" or 0.
      auto text = [&](size_t f) { return std::string(h[f].text_view().value_or("")); };
      auto number = [&](size_t f) {
        auto n = h[f].number();
        return n ? *n : 0;
      };
      std::string st = text(0);
      (*by_status)[st]++;
      if (rows.size() < limit) {
        rows.push_back({{"ticket", (*keys)[k].substr(head.size())}, {"status", st}, {"key", text(1)},
                        {"enqueued", number(2)}, {"steps", number(3)}, {"worker", text(4)}});
      }
    }
  }
  return rows;
}

// The ticket_ttl_s of a workflow in the config (the default when the
// workflow is not there, or the section does not parse).
int64_t ttl_of(const Config& config, const std::string& name) {
  auto defs = workflow::parse_definitions(config.workflows, config.file);
  if (defs) {
    if (auto it = defs->find(name); it != defs->end()) return it->second.ticket_ttl_s;
  }
  return workflow::Definition{}.ticket_ttl_s;
}

int list_all(Redis& redis, const Config& config, const Options& opt) {
  json out = json::object();
  std::vector<std::string> names;
  if (config.workflows.is_object()) {
    for (auto& [name, def] : config.workflows.items()) names.push_back(name);
  }
  for (const std::string& name : names) {
    const std::string& p = redis.options().prefix;
    redis.append({"LLEN", workflow::incoming_key(p, name)});
    redis.append({"LLEN", workflow::processing_key(p, name)});
    auto r = redis.flush();
    if (!r) return complain(r.message());
    if (Status n = expect_replies(*r, 2); !n) return complain(n.message());
    std::map<std::string, int64_t> by_status;
    auto rows = tickets_of(redis, name, 0, &by_status);
    if (!rows) return complain(rows.message());
    out[name] = {{"incoming", reply_integer((*r)[0].get())}, {"processing", reply_integer((*r)[1].get())},
                 {"tickets", by_status}};
  }
  if (opt.json) {
    printf("%s\n", json_text(out, 2).c_str());
    return 0;
  }
  printf("%-20s %9s %10s  %s\n", "WORKFLOW", "INCOMING", "PROCESSING", "TICKETS BY STATUS");
  for (auto& [name, w] : out.items()) {
    std::string counts;
    for (auto& [st, n] : w["tickets"].items()) counts += utf8_or_replaced(st) + "=" + json_text(n) + " ";
    printf("%-20s %9lld %10lld  %s\n", name.c_str(), w["incoming"].get<long long>(),
           w["processing"].get<long long>(), counts.empty() ? "-" : counts.c_str());
  }
  return 0;
}

int list_one(Redis& redis, const std::string& name, const Options& opt) {
  std::map<std::string, int64_t> by_status;
  auto rows = tickets_of(redis, name, opt.limit, &by_status);
  if (!rows) return complain(rows.message());
  if (opt.json) {
    printf("%s\n", json_text(json{{"workflow", name}, {"tickets_by_status", by_status}, {"tickets", *rows}}, 2).c_str());
    return 0;
  }
  printf("%-36s  %-10s  %6s  %5s  %-8s  %s\n", "TICKET", "STATUS", "AGE", "STEPS", "WORKER", "KEY");
  for (const auto& t : *rows) {
    int64_t age_s = (unix_millis() - t["enqueued"].get<int64_t>()) / 1000;
    printf("%-36s  %-10s  %5llds  %5lld  %-8s  %s\n", t["ticket"].get<std::string>().c_str(),
           t["status"].get<std::string>().c_str(), static_cast<long long>(age_s), t["steps"].get<long long>(),
           t["worker"].get<std::string>().c_str(), t["key"].get<std::string>().c_str());
  }
  int64_t total = 0;
  for (auto& [st, n] : by_status) total += n;
  printf("%lld tickets", static_cast<long long>(total));
  for (auto& [st, n] : by_status) printf("; %s: %lld", st.c_str(), static_cast<long long>(n));
  printf("\n");
  return 0;
}

}  // namespace

int workflow(Redis& redis, const Config& config, const std::vector<std::string>& args, const Options& opt) {
  const std::string sub = args.empty() ? "" : args[0];
  if (sub == "list" && args.size() == 1) return list_all(redis, config, opt);
  if (sub == "list" && args.size() == 2) return list_one(redis, args[1], opt);
  if ((sub == "show" || sub == "cancel" || sub == "retry") && args.size() == 2) {
    const std::string& ticket = args[1];
    auto name = workflow_of(redis, ticket);
    if (!name) return complain(name.message());
    if (sub == "show") {
      auto h = workflow::read_ticket(redis, *name, ticket);
      if (!h) return complain(h.message());
      if (h->what == workflow::TicketRead::kMissing) return complain("no ticket " + ticket);
      if (h->what == workflow::TicketRead::kBad) return complain("ticket " + ticket + " cannot be read: " + h->why);
      printf("%s\n", json_text(workflow::ticket_json(*name, ticket, h->ticket), 2).c_str());
      return 0;
    }
    auto r = sub == "cancel" ? workflow::cancel_ticket(redis, *name, ticket, unix_millis(), ttl_of(config, *name))
                             : workflow::retry_ticket(redis, *name, ticket, unix_millis());
    if (!r) return complain(r.message());
    bool ok = *r == (sub == "cancel" ? "cancelled" : "enqueued");
    if (opt.json) {
      printf("%s\n", json_text(json{{"ticket", ticket}, {"workflow", *name}, {"outcome", *r}}).c_str());
    } else {
      printf("%s %s: %s\n", *name == "" ? "?" : name->c_str(), ticket.c_str(),
             ok ? r->c_str() : ("refused, the ticket is " + r->substr(r->find(':') + 1)).c_str());
    }
    return ok ? 0 : 1;
  }
  fprintf(stderr, "tetherctl: workflow: expected list [NAME] | show TICKET | cancel TICKET | retry TICKET\n");
  return 2;
}

}  // namespace tether::ctl
