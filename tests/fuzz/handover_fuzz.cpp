// Fuzzes taking in a session another worker hands over (src/cluster/handover):
// any bytes, as the body of POST /tether/handover from a verified peer.
// Handover::decode_envelope decodes it; a decoded envelope is adopted by a
// SessionHost as Handover::receive does (SessionPool::adopt runs the same
// on the owning thread) with the app it names (the demo's "notes" or the
// test kit's "testkit"; another name gets "notes"), so the app's restore()
// sees hostile state. An adopted session then serves the demo's pages
// (GET / renders the notes, GET /api/notes dumps them), is offered for
// hand-over again (its snapshot written with json_text, as
// Handover::try_send does; a peer must take what it sends), and is killed.
// Checks: nothing throws, a refusal says why, an accepted envelope has
// what decode_envelope promises.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "apps/demo/notes.h"
#include "apps/testkit/testkit.h"
#include "common/clock.h"
#include "common/json.h"
#include "session/host.h"
#include "session/job.h"
#include "session/stats.h"
#include "cluster/handover.h"

namespace {

using tether::SessionFactory;

const SessionFactory kNotes = [] { return std::unique_ptr<tether::Session>(new demo::NotesSession()); };
const SessionFactory kKit = [] { return std::unique_ptr<tether::Session>(new testkit::KitSession()); };

// False when the session is not there (an envelope's "created" past the
// lifetime ends it at its first request).
bool serve(tether::SessionHost& host, const tether::SessionId& sid, const SessionFactory* app, const char* method,
           const char* path) {
  tether::SessionJob job;
  job.request.method = method;
  job.request.path = path;
  job.factory = app;
  job.sid = sid;
  job.existing = true;
  job.create_if_missing = false;
  host.serve(job);
  if (job.missing) return false;
  (void)tether::json_text(nlohmann::json(job.response.body));
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string body(reinterpret_cast<const char*>(data), size);
  auto envelope = tether::Handover::decode_envelope(body);
  if (!envelope) {
    if (envelope.message().empty()) std::abort();  // a refusal always says why
    return 0;
  }
  const nlohmann::json& j = *envelope;
  auto hex = tether::string_field(j, "sid");
  auto app_name = tether::string_field(j, "app");
  tether::SessionId sid;
  if (!hex || !app_name || !tether::SessionId::from_hex(*hex, &sid) || !j.contains("state")) std::abort();
  const SessionFactory* app = *app_name == "testkit" ? &kKit : &kNotes;

  static tether::SteadyClock clock;
  static const std::string route = "h1-0";
  static tether::SessionStats stats;
  tether::SessionHost host(clock, tether::SessionTimeouts{}, &route, 0, 1, &stats);
  tether::Status adopted = host.adopt(sid, app, j);
  if (!adopted) {
    if (adopted.message().empty() || host.contains(sid)) std::abort();  // refused: nothing kept
    return 0;
  }
  if (!host.contains(sid)) std::abort();
  if (!serve(host, sid, app, "GET", "/") || !serve(host, sid, app, "GET", "/api/notes") ||
      !serve(host, sid, app, "GET", "/t/peek")) {
    return 0;
  }
  host.hand_over([&](const tether::SessionId&, const SessionFactory*, const nlohmann::json& envelope) {
    nlohmann::json again = envelope;  // as Handover::try_send sends it
    again["app"] = *app_name;
    std::string text = tether::json_text(again);
    auto back = tether::Handover::decode_envelope(text);
    if (!back) {  // what it sends, a peer takes
      fprintf(stderr, "handover_fuzz: a peer refuses what this worker sends: %s\n  %s\n", back.message().c_str(),
              text.substr(0, 400).c_str());
      std::abort();
    }
    return std::string();  // nobody took it: it stays here
  });
  host.kill(sid);
  return 0;
}
