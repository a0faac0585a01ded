// HTTP calls to step services with libcurl (see step_client.h).
#include "workflow/step_client.h"

#include <algorithm>
#include <chrono>
#include <mutex>

#include "common/firewall.h"

namespace tether::workflow {
namespace {

constexpr size_t kMaxAnswerBytes = 1 << 20;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Called by libcurl (C): nothing may be thrown through it; a failure is a write error.
size_t on_data(char* p, size_t size, size_t n, void* user) noexcept {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxAnswerBytes) return 0;  // curl reports a write error
  bool ok = firewall::guard("workflow.step_client", [&] { out->append(p, size * n); });
  return ok ? size * n : 0;
}

// Appends one header line; on failure (out of memory) the list stays as it was.
void add_header(CurlHeaders& list, const char* line) {
  curl_slist* head = curl_slist_append(list.get(), line);  // the same head, or the new list's
  if (head != nullptr && !list) list.reset(head);
}

int64_t backoff_ms(const Definition& def, int attempts_done) {
  int64_t ms = def.backoff_ms;
  for (int i = 1; i < attempts_done && ms < def.backoff_max_ms; ++i) ms *= 2;
  return std::min<int64_t>(ms, def.backoff_max_ms);
}

}  // namespace

struct StepClient::Slot {
  const StepCall* call = nullptr;
  StepOutcome out;
  CurlEasy easy;  // held while an attempt is in flight (added to the multi)
  std::string answer;
  int64_t next_try_ms = 0;
  bool done = false;
};

void StepClient::global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

StepClient::StepClient() : multi_(curl_multi_init()) {
  add_header(headers_, "Content-Type: application/json");
  add_header(headers_, "Expect:");
}

StepClient::~StepClient() = default;  // the owners free the handles

CurlEasy StepClient::easy() {
  if (idle_.empty()) return CurlEasy(curl_easy_init());
  CurlEasy e = std::move(idle_.back());
  idle_.pop_back();
  curl_easy_reset(e.get());
  return e;
}

void StepClient::give_back(CurlEasy e) { idle_.push_back(std::move(e)); }

std::vector<StepOutcome> StepClient::run(const std::vector<StepCall>& calls, const Definition& def,
                                         const std::function<bool()>& aborted) {
  std::vector<Slot> slots(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) slots[i].call = &calls[i];
  size_t left = slots.size();
  auto finish_attempt = [&](Slot& s, const std::string& error) {
    if (error.empty()) {
      s.done = true;
      s.out.ok = true;
      --left;
    } else if (s.out.attempts > def.retries) {
      s.done = true;
      s.out.error = error;
      --left;
    } else {
      s.out.error = error;
      s.next_try_ms = steady_ms() + backoff_ms(def, s.out.attempts);
    }
  };
  while (left > 0) {
    if (aborted()) {
      for (auto& s : slots) {
        if (s.easy) {
          curl_multi_remove_handle(multi_.get(), s.easy.get());
          give_back(std::move(s.easy));
        }
        if (!s.done) s.out.error = "aborted";
      }
      break;
    }
    int64_t now = steady_ms();
    int64_t wait_ms = 100;
    for (auto& s : slots) {
      if (s.done || s.easy || s.next_try_ms > now) continue;
      if (s.out.attempts > 0) ++retries_;
      ++s.out.attempts;
      s.answer.clear();
      s.easy = easy();
      if (!s.easy) {  // curl had no memory for a handle: a failed attempt, retried after the backoff
        finish_attempt(s, "out of memory for an HTTP handle");
        continue;
      }
      CURL* e = s.easy.get();
      curl_easy_setopt(e, CURLOPT_URL, s.call->url.c_str());
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, s.call->body.c_str());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(s.call->body.size()));
      curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_.get());
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(def.step_timeout_ms));
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
      curl_easy_setopt(e, CURLOPT_WRITEDATA, &s.answer);
      curl_easy_setopt(e, CURLOPT_PRIVATE, &s);
      curl_multi_add_handle(multi_.get(), e);
    }
    int running = 0;
    curl_multi_perform(multi_.get(), &running);
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi_.get(), &queued)) {
      if (m->msg != CURLMSG_DONE) continue;
      Slot* s = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
      CURLcode rc = m->data.result;
      long code = 0;
      curl_off_t us = 0;
      curl_easy_getinfo(s->easy.get(), CURLINFO_RESPONSE_CODE, &code);
      curl_easy_getinfo(s->easy.get(), CURLINFO_TOTAL_TIME_T, &us);
      curl_multi_remove_handle(multi_.get(), s->easy.get());
      give_back(std::move(s->easy));
      s->out.http_us = us;
      if (rc != CURLE_OK) {
        finish_attempt(*s, std::string(curl_easy_strerror(rc)));
      } else if (code < 200 || code > 299) {
        finish_attempt(*s, "HTTP " + std::to_string(code) + " from " + s->call->url);
      } else if (auto r = parse_step_response(s->answer); !r) {
        finish_attempt(*s, r.message());
      } else {
        s->out.result = std::move(r.value());
        finish_attempt(*s, "");
      }
    }
    if (left == 0) break;
    // Wait for network activity, the first backoff to end, or 100 ms (aborted() is polled that often).
    now = steady_ms();
    for (auto& s : slots) {
      if (!s.done && !s.easy) wait_ms = std::min(wait_ms, std::max<int64_t>(s.next_try_ms - now, 0));
    }
    if (wait_ms > 0) curl_multi_poll(multi_.get(), nullptr, 0, static_cast<int>(wait_ms), nullptr);
  }
  std::vector<StepOutcome> out;
  out.reserve(slots.size());
  for (auto& s : slots) {
    if (s.out.ok) s.out.error.clear();
    out.push_back(std::move(s.out));
  }
  return out;
}

}  // namespace tether::workflow
