// Decoders for ticket hashes, payloads and queue items (see ticket_decode.h).
#include "workflow/ticket_decode.h"

#include <charconv>

#include "common/json.h"
#include "redis/reply.h"
#include "workflow/tickets.h"

namespace tether::workflow {
namespace {

constexpr size_t kQuoted = 64;  // bytes of an outside value quoted in a reason

// s for a reason: invalid UTF-8 replaced, cut at kQuoted bytes.
std::string shown(const std::string& s) {
  std::string out = utf8_or_replaced(s.substr(0, kQuoted));
  return "'" + out + (s.size() > kQuoted ? "...'" : "'");
}

// A whole decimal integer from lo to hi.
std::optional<int64_t> to_int(const std::string& s, int64_t lo, int64_t hi) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// A JSON value stored as text: parsed within the depth bound, else the text itself.
nlohmann::json json_or_text(const std::string& s) {
  auto j = parse_json(s);
  return j ? std::move(j.value()) : nlohmann::json(s);
}

// Reads the fields of one ticket hash, recording the first refusal.
struct Reader {
  const std::map<std::string, std::string>& h;
  std::string why;

  const std::string* find(const std::string& f) const {
    auto it = h.find(f);
    return it == h.end() ? nullptr : &it->second;
  }
  std::string text(const std::string& f) const {
    const std::string* v = find(f);
    return v ? *v : std::string();
  }
  int64_t integer(const std::string& f, int64_t lo = 0, int64_t hi = INT64_MAX) {
    const std::string* v = find(f);
    if (v == nullptr) return 0;
    auto n = to_int(*v, lo, hi);
    if (!n && why.empty()) {
      why = "field " + shown(f) + ": expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi) +
            ", got " + shown(*v);
    }
    return n.value_or(0);
  }
};

bool known_state(const std::string& s) {
  return s == "enqueued" || s == "dispatched" || s == "running" || is_final(s);
}

}  // namespace

Result<std::map<std::string, std::string>> decode_hash_reply(const redisReply* reply) {
  using R = Result<std::map<std::string, std::string>>;
  ReplyView r(reply);
  if (!r.is_array()) return R::error("expected a hash (an array reply)");
  if (!r.pairs()) return R::error("expected field and value pairs");
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < r.size(); ++i) {
    if (!r[i].is_bulk()) return R::error("expected strings in the hash reply");
  }
  for (size_t i = 0; i + 1 < r.size(); i += 2) out[*r[i].bulk()] = *r[i + 1].bulk();
  return out;
}

Result<std::optional<Ticket>> decode_ticket(const std::map<std::string, std::string>& h) {
  using R = Result<std::optional<Ticket>>;
  if (h.empty()) return std::optional<Ticket>();
  Reader rd{h, ""};
  Ticket t;
  t.status = rd.text("status.current");
  if (!known_state(t.status)) {
    return R::error("field 'status.current': expected a ticket state, got " + shown(t.status));
  }
  t.key = rd.text("payload.key");
  t.data = json_or_text(rd.text("payload.data"));
  t.worker = rd.text("worker");
  t.runs = rd.integer("runs");
  t.requeued = rd.integer("requeued");
  t.finished = rd.integer("finished");
  if (const std::string* e = rd.find("error")) t.error = *e;
  if (rd.find("run_us")) t.run_us = rd.integer("run_us");
  for (const auto& [f, v] : h) {
    if (f.size() > 12 && f.rfind("status.", 0) == 0 && f.compare(f.size() - 5, 5, ".time") == 0) {
      t.times[f.substr(7, f.size() - 12)] = rd.integer(f, INT64_MIN, INT64_MAX);
    }
  }
  int64_t steps = rd.integer("steps", 0, kMaxTicketSteps);
  // A step writes several fields: a count past the hash's size is forged
  // (and would make a reader build that many empty steps).
  if (steps > static_cast<int64_t>(h.size())) {
    return R::error("field 'steps': " + std::to_string(steps) + " steps, but the hash has " +
                    std::to_string(h.size()) + " fields");
  }
  for (int64_t i = 0; i < steps && rd.why.empty(); ++i) {
    std::string p = "step." + std::to_string(i) + ".";
    TicketStep s;
    s.name = rd.text(p + "name");
    s.url = rd.text(p + "url");
    s.status = rd.text(p + "status");
    s.data = json_or_text(rd.text(p + "data"));
    if (const std::string* e = rd.find(p + "error")) s.error = *e;
    s.attempts = rd.integer(p + "attempts");
    s.depth = rd.integer(p + "depth");
    s.http_us = rd.integer(p + "http_us");
    t.steps.push_back(std::move(s));
  }
  if (!rd.why.empty()) return R::error(rd.why);
  return std::optional<Ticket>(std::move(t));
}

Result<std::optional<Ticket>> decode_ticket(const redisReply* r) {
  auto h = decode_hash_reply(r);
  if (!h) return h.status();
  return decode_ticket(*h);
}

Result<Payload> decode_payload(const redisReply* reply) {
  using R = Result<Payload>;
  ReplyView r(reply);
  if (!r.array(2)) return R::error("expected the reply of HMGET payload.key payload.data");
  auto key = r[0].bulk();
  auto d = r[1].bulk();
  if (!key || key->empty()) return R::error("field 'payload.key': expected a non-empty string");
  Payload out;
  out.key = std::move(key.value());
  if (out.key.size() > kMaxTicketKeyBytes) {
    return R::error("field 'payload.key': longer than " + std::to_string(kMaxTicketKeyBytes) + " bytes");
  }
  if (!valid_utf8(out.key)) return R::error("field 'payload.key': not valid UTF-8: " + shown(out.key));
  if (!d) return R::error("field 'payload.data': expected JSON text");
  auto data = parse_json(*d);
  if (!data) return R::error("field 'payload.data': " + data.message());
  out.data = std::move(data.value());
  return out;
}

Result<std::string> decode_queue_item(const redisReply* r) {
  using R = Result<std::string>;
  if (r == nullptr || r->type != REDIS_REPLY_STRING) return R::error("queue item: expected a string");
  std::string id(r->str, r->len);
  if (!is_ticket_id(id)) return R::error("queue item: expected a ticket UUID, got " + shown(id));
  return id;
}

nlohmann::json ticket_json(const std::string& name, const std::string& id, const Ticket& t) {
  nlohmann::json j;
  j["ticket"] = id;
  j["workflow"] = name;
  j["key"] = t.key;
  j["data"] = t.data;
  j["status"] = t.status;
  j["times"] = nlohmann::json::object();
  for (const auto& [state, ms] : t.times) j["times"][state] = ms;
  j["worker"] = t.worker;
  j["runs"] = t.runs;
  j["requeued"] = t.requeued;
  j["finished"] = t.finished;
  if (t.error) j["error"] = *t.error;
  if (t.run_us) j["run_us"] = *t.run_us;
  j["steps"] = nlohmann::json::array();
  for (const auto& s : t.steps) {
    nlohmann::json step = {{"name", s.name},         {"url", s.url},     {"status", s.status},
                           {"data", s.data},         {"attempts", s.attempts},
                           {"depth", s.depth},       {"http_us", s.http_us}};
    if (s.error) step["error"] = *s.error;
    j["steps"].push_back(std::move(step));
  }
  return j;
}

}  // namespace tether::workflow
