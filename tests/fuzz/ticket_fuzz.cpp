// Fuzzes the workflow engine's decoders of what it reads back from Redis
// (src/workflow/ticket_decode.h): ticket hashes, payloads and queue items.
// The first byte of the input picks the form:
//   't' a ticket hash as text, lines "field=value" (field names and values
//       of any bytes but '\n' and the first '='), decoded as the API and
//       tetherctl read it, then shown: json_text(ticket_json(...));
//   any other byte: the rest builds a hiredis reply (tests/fuzz/reply.h),
//       given to decode_hash_reply, decode_ticket, decode_payload and
//       decode_queue_item as the HGETALL, HMGET, BLMOVE replies would be.
// Checks: nothing throws, a refusal says why, what is accepted keeps the
// header's promises (payload key non-empty, valid UTF-8, bounded; a queue
// item a ticket id), and the shown ticket is valid JSON text.
#include <cstdlib>
#include <string>

#include "common/json.h"
#include "reply.h"
#include "workflow/ticket_decode.h"
#include "workflow/tickets.h"

namespace {

namespace wf = tether::workflow;

template <class T>
void check_refusal(const tether::Result<T>& r) {
  if (!r && r.message().empty()) std::abort();
}

// A ticket with thousands of steps (up to kMaxTicketSteps) is decoded but not
// shown: its megabytes of JSON would take the fuzzer seconds under ASan.
void show(const std::optional<wf::Ticket>& t) {
  if (!t || t->steps.size() > 2000) return;
  std::string text = tether::json_text(wf::ticket_json("demo", "0123456789abcdef0123456789abcdef", *t));
  if (!tether::valid_utf8(text) || !tether::parse_json(text, 1000)) std::abort();
}

void from_lines(const std::string& s) {
  std::map<std::string, std::string> fields;
  size_t start = 0;
  while (start < s.size() && fields.size() < 256) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    std::string line = s.substr(start, nl - start);
    size_t eq = line.find('=');
    if (eq != std::string::npos) fields[line.substr(0, eq)] = line.substr(eq + 1);
    start = nl + 1;
  }
  auto t = wf::decode_ticket(fields);
  check_refusal(t);
  if (t) show(*t);
}

void from_reply(tether::fuzz::Input& in) {
  tether::fuzz::ReplyTree tree;
  redisReply* r = tree.any(in, 3, 40);
  auto hash = wf::decode_hash_reply(r);
  check_refusal(hash);
  auto t = wf::decode_ticket(r);
  check_refusal(t);
  if (t) show(*t);
  auto p = wf::decode_payload(r);
  check_refusal(p);
  if (p) {
    if (p->key.empty() || p->key.size() > wf::kMaxTicketKeyBytes || !tether::valid_utf8(p->key)) std::abort();
    (void)tether::json_text(p->data);
  }
  auto q = wf::decode_queue_item(r);
  check_refusal(q);
  if (q && !wf::is_ticket_id(*q)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] == 't') {
    from_lines(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  } else {
    tether::fuzz::Input in(data + 1, size - 1);
    from_reply(in);
  }
  return 0;
}
