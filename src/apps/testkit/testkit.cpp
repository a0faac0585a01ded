// The test-kit session app (see testkit.h).
#include "apps/testkit/testkit.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "tether/journal.h"

namespace testkit {
using tether::Request;
using tether::Response;

namespace {
// Query values, methods and headers are outside bytes: invalid UTF-8 becomes U+FFFD.
std::string utf8_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

std::string KitSession::state_json() const {
  nlohmann::json j;
  j["n"] = count_;
  j["owner"] = route();
  j["epoch"] = epoch();
  j["pid"] = getpid();
  j["session"] = short_id();
  j["reason"] = reason_;
  j["requests"] = request_count();
  j["wakes"] = wakes_;
  j["pad_bytes"] = pad_.size();
  j["pad_head"] = pad_.substr(0, 32);
  return utf8_json(j);
}

void KitSession::on_end(tether::EndReason reason) {
  if (wakes_ == 0) return;
  std::fprintf(stderr, "testkit_on_end session=%s reason=%s wakes=%lld\n", short_id().c_str(),
               tether::to_string(reason), static_cast<long long>(wakes_));
}

std::optional<nlohmann::json> KitSession::snapshot() const {
  return nlohmann::json{{"n", count_},       {"seq", seq_},   {"reason", reason_},
                        {"journaled", journaled_}, {"pad", pad_}, {"wakes", wakes_}};
}

bool KitSession::restore(const nlohmann::json& state) {
  if (!state.is_object() || !state.contains("n") || !state["n"].is_number_unsigned()) return false;
  count_ = state["n"].get<uint64_t>();
  seq_ = state.value("seq", std::vector<std::string>{});
  reason_ = state.value("reason", "");
  if (state.contains("journaled") && state["journaled"].is_number_integer()) journaled_ = state["journaled"].get<int64_t>();
  if (state.contains("pad") && state["pad"].is_string()) pad_ = state["pad"].get<std::string>();
  if (state.contains("wakes") && state["wakes"].is_number_integer()) wakes_ = state["wakes"].get<int64_t>();
  return true;
}

Response KitSession::handle(const Request& req) {
  const std::string& p = req.path;
  if (p == "/t/count") {
    ++count_;
    return Response::json(state_json());
  }
  if (p == "/t/peek") return Response::json(state_json());
  if (p == "/t/pad") {  // ?kb=N&c=X: a pad of N KiB (at most 4096) of the letter X, kept in the state
    int kb = std::clamp(std::atoi(req.query_param("kb").c_str()), 0, 4096);
    std::string c = req.query_param("c");
    char fill = c.size() == 1 && std::isalnum(static_cast<unsigned char>(c[0])) ? c[0] : 'x';
    pad_.assign(static_cast<size_t>(kb) * 1024, fill);
    ++count_;
    return Response::json(state_json());
  }
  if (p == "/t/slow") {
    // Stands for a handler doing real work; not synchronisation.
    int ms = std::atoi(req.query_param("ms").c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(ms, 30000)));
    ++count_;
    return Response::json(state_json());
  }
  if (p == "/t/echo") {
    nlohmann::json j;
    j["len"] = req.body.size();
    uint64_t sum = 0;
    for (unsigned char c : req.body) sum += c;
    j["sum"] = sum;
    j["method"] = req.method;
    j["query"] = req.query;
    j["content_type"] = std::string(req.header("content-type"));
    return Response::json(utf8_json(j));
  }
  if (p == "/t/seq") {
    seq_.push_back(req.query_param("v"));
    return Response::text("ok\n");
  }
  if (p == "/t/list") return Response::json(utf8_json(nlohmann::json(seq_)));
  if (p == "/t/journal") {
    // Appends n entries to domain, each {"s": session, "k": this session's count}.
    int n = std::clamp(std::atoi(req.query_param("n").c_str()), 1, 10000);
    int priority = std::atoi(req.query_param("priority").c_str());
    for (int i = 0; i < n; ++i) {
      auto r = tether::journal::append(req.query_param("domain"),
                                       {{"priority", priority}, {"s", short_id()}, {"k", journaled_}});
      if (!r) return Response::json(utf8_json({{"error", r.error}, {"appended", i}}), 503);
      ++journaled_;
    }
    return Response::json(utf8_json({{"appended", n}, {"total", journaled_}, {"session", short_id()}}));
  }
  if (p == "/t/rotate") {  // a login: the state stays, the id changes (Session::rotate_id)
    ++count_;
    rotate_id();
    return Response::json(state_json());  // "session" is still the old id's short form here
  }
  if (p == "/t/end") {
    end();
    return Response::text("ended\n");
  }
  if (p == "/t/throw") throw std::runtime_error("thrown on purpose");
  return Response::text("testkit: no such path\n", 404);
}

}  // namespace testkit
