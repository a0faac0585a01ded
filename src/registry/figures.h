// Figures: one worker's status figures as the fleet view, tetherctl and the
// metrics writers (ops/metrics.h) see them. They come from the `figures`
// field of a heartbeat hash, which anyone who can write to Redis can fill,
// or from this worker's own status JSON; either way they pass decode(), so
// a Figures value always is:
//   - a JSON object nested at most kFiguresDepth deep, from text of at most
//     kMaxFiguresBytes;
//   - "host" a host name and "worker" 0..65535, equal to the directory name
//     the figures were read under; "pid" and "started" non-negative
//     integers when present; "accepting" a boolean when present;
//   - the core sections (requests, acceptor_threads, sessions, forward,
//     redis) objects whose figures are numbers, "redis.up" a boolean and
//     "sessions.ended" and "sessions.refused" objects of numbers;
//   - every key and string valid UTF-8, every number finite.
// Anything else is refused with a reason (the caller counts it as
// "heartbeat.bad_figures" and leaves that worker's figures out).
//
// Thread safety: values; decode() is a pure function.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "registry/entries.h"

namespace tether::registry {

constexpr const char* kBadFigures = "heartbeat.bad_figures";
constexpr int kFiguresDepth = 16;
constexpr size_t kMaxFiguresBytes = 1 << 20;

class Figures {
 public:
  // The figures JSON of worker host:worker (a heartbeat hash's field).
  static Result<Figures> decode(std::string_view text, const std::string& host, int worker);
  // This worker's own status JSON: strings holding invalid UTF-8 are
  // replaced (U+FFFD) rather than refused, then checked like decode().
  static Result<Figures> own(const nlohmann::json& status);
  // What the directory knows of a worker that wrote no figures.
  static Figures from_directory(const WorkerInfo& w);

  const nlohmann::json& json() const { return j_; }
  const std::string& host() const { return host_; }
  int worker() const { return worker_; }
  // Adds the directory's view: addr, accepting, heartbeat (unix ms).
  void set_directory(const WorkerInfo& w);
  // Takes every top-level figure of `current` (the same worker, fresher).
  void update_from(const Figures& current);

 private:
  Figures() = default;
  nlohmann::json j_;
  std::string host_;
  int worker_ = 0;
};

// nlohmann's conversion, so a Figures (or a vector of them) goes into JSON.
void to_json(nlohmann::json& j, const Figures& f);

}  // namespace tether::registry
