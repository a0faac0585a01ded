// StepClient: calls step services over HTTP with libcurl's multi interface.
// One batch is a set of steps run at once (a parallel fan-out, or one step
// of a sequence); each step is POSTed, with its own per-attempt timeout,
// retried after a backoff on a transport error, a non-2xx answer or an
// answer that does not parse (parse_step_response), up to the retry limit.
// Connections to step services are kept alive between batches.
//
// Thread safety: none; one StepClient per runner thread. curl_global_init
// must have run (StepClient::global_init, on the main thread) before any is made.
#pragma once
#include <curl/curl.h>

#include <functional>
#include <string>
#include <vector>

#include "workflow/definition.h"
#include "workflow/step_response.h"

namespace tether::workflow {

struct StepCall {
  std::string name;  // what the caller named it ("start" for the start point)
  std::string url;
  std::string body;  // JSON
};

struct StepOutcome {
  bool ok = false;
  StepResult result;     // when ok
  std::string error;     // the last attempt's error, when not ok
  int attempts = 0;
  int64_t http_us = 0;   // the last attempt, as curl measured it (connect to last byte)
};

class StepClient {
 public:
  static void global_init();
  StepClient();
  ~StepClient();
  StepClient(const StepClient&) = delete;
  StepClient& operator=(const StepClient&) = delete;

  // Runs the calls at once; returns one outcome per call, in order.
  // aborted() is polled while waiting: true stops every call ("aborted").
  std::vector<StepOutcome> run(const std::vector<StepCall>& calls, const Definition& def,
                               const std::function<bool()>& aborted);
  int64_t retries() const { return retries_; }  // attempts after a first, in all

 private:
  struct Slot;
  CURL* easy();
  void give_back(CURL* e);

  CURLM* multi_;
  curl_slist* headers_ = nullptr;
  std::vector<CURL*> idle_;
  int64_t retries_ = 0;
};

}  // namespace tether::workflow
