// The demo app: a notes pad kept per session, in memory, on its owner worker.
// HTML at /, JSON at /api/notes. Adding or deleting a note journals an
// entry in domain "notes" when the worker has a journal (see notes_recent.cpp). Runs on the session's thread like any session.
#pragma once
#include <string>
#include <vector>

#include "tether/session.h"

namespace demo {

class NotesSession final : public tether::Session {
 public:
  void on_start(tether::StartReason reason) override { reason_ = tether::to_string(reason); }
  tether::Response handle(const tether::Request& req) override;
  // Hand-over on drain: the notes move to another worker with the session.
  std::optional<nlohmann::json> snapshot() const override;
  bool restore(const nlohmann::json& state) override;

 private:
  struct Note {
    int id;
    std::string text;
  };
  tether::Response page() const;
  tether::Response json() const;
  tether::Response api_add(const tether::Request& req);
  bool add(std::string text);
  void changed(const char* what, const Note& n);

  std::vector<Note> notes_;
  int next_id_ = 1;
  std::string reason_;
  int journal_errors_ = 0;
};

}  // namespace demo
