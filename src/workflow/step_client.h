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
#include <memory>
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

// Owners of libcurl's handles: each is freed once, by its owner, on every path.
struct CurlEasyFree {
  void operator()(CURL* e) const { curl_easy_cleanup(e); }  // also takes it out of a multi
};
struct CurlMultiFree {
  void operator()(CURLM* m) const { curl_multi_cleanup(m); }
};
struct CurlSlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyFree>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiFree>;
using CurlHeaders = std::unique_ptr<curl_slist, CurlSlistFree>;

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
  CurlEasy easy();  // an idle handle (reset), or a new one; null if curl has no memory
  void give_back(CurlEasy e);

  // Declared in this order so that they go in reverse: the idle handles
  // (outside the multi), then the headers they used, then the multi.
  CurlMulti multi_;
  CurlHeaders headers_;
  std::vector<CurlEasy> idle_;
  int64_t retries_ = 0;
};

}  // namespace tether::workflow
