// The demo notes pad (see notes.h).
#include "apps/demo/notes.h"

#include <nlohmann/json.hpp>

#include "http/parse.h"
#include "tether/journal.h"

namespace demo {

using tether::Request;
using tether::Response;
using tether::http::html_escape;

namespace {
constexpr size_t kMaxNotes = 100;
constexpr size_t kMaxNoteBytes = 2000;
}  // namespace

bool NotesSession::add(std::string text) {
  if (text.empty() || text.size() > kMaxNoteBytes || notes_.size() >= kMaxNotes) return false;
  notes_.push_back(Note{next_id_++, std::move(text)});
  changed("added", notes_.back());
  return true;
}

// Tells the back end (a journal consumer, e.g. notes-recent) that a note changed.
void NotesSession::changed(const char* what, const Note& n) {
  if (!tether::journal::enabled()) return;
  auto r = tether::journal::append("notes", {{"uri", "/notes/" + short_id() + "/" + std::to_string(n.id)},
                                             {"priority", 50},
                                             {"change", what},
                                             {"text", n.text.substr(0, 200)}});
  if (!r) journal_errors_++;  // shown on the page: the note itself is kept either way
}

std::optional<nlohmann::json> NotesSession::snapshot() const {
  nlohmann::json notes = nlohmann::json::array();
  for (const auto& n : notes_) notes.push_back({{"id", n.id}, {"text", n.text}});
  return nlohmann::json{{"notes", std::move(notes)}, {"next_id", next_id_}, {"reason", reason_}};
}

bool NotesSession::restore(const nlohmann::json& state) {
  if (!state.is_object() || !state.contains("notes") || !state["notes"].is_array()) return false;
  for (const auto& n : state["notes"]) {
    if (!n.is_object() || !n.contains("id") || !n["id"].is_number_integer() || !n.contains("text") ||
        !n["text"].is_string()) {
      return false;
    }
    notes_.push_back(Note{n["id"].get<int>(), n["text"].get<std::string>()});
  }
  next_id_ = static_cast<int>(notes_.size()) + 1;
  if (state.contains("next_id") && state["next_id"].is_number_integer()) next_id_ = state["next_id"].get<int>();
  if (state.contains("reason") && state["reason"].is_string()) reason_ = state["reason"].get<std::string>();
  return true;
}

Response NotesSession::handle(const Request& req) {
  if (req.path == "/" && req.method == "GET") return page();
  if (req.path == "/notes" && req.method == "POST") {
    add(req.form_param("text"));
    return Response::redirect("/");
  }
  if (req.path == "/notes/delete" && req.method == "POST") {
    std::string id = req.form_param("id");
    std::erase_if(notes_, [&](const Note& n) {
      if (std::to_string(n.id) != id) return false;
      changed("deleted", n);
      return true;
    });
    return Response::redirect("/");
  }
  if (req.path == "/logout" && req.method == "POST") {
    end();
    return Response::redirect("/");
  }
  if (req.path == "/api/notes" && req.method == "GET") return json();
  if (req.path == "/api/notes" && req.method == "POST") return api_add(req);
  return Response::text("not found\n", 404);
}

Response NotesSession::api_add(const Request& req) {
  auto body = req.json_body();
  if (!body || !body->is_object() || !body->contains("text") || !(*body)["text"].is_string()) {
    return Response::json(R"({"error":"expected a JSON object {\"text\": \"...\"}"})", 400);
  }
  if (!add((*body)["text"].get<std::string>())) {
    return Response::json(R"j({"error":"note empty, longer than 2000 bytes, or the pad is full (100)"})j", 400);
  }
  return json();
}

Response NotesSession::json() const {
  nlohmann::json j;
  j["owner"] = route();
  j["session"] = short_id();
  j["requests"] = request_count();
  j["started_because"] = reason_;
  if (journal_errors_ > 0) j["journal_errors"] = journal_errors_;
  j["notes"] = nlohmann::json::array();
  for (const auto& n : notes_) j["notes"].push_back({{"id", n.id}, {"text", n.text}});
  return Response::json(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Response NotesSession::page() const {
  std::string h;
  h += "<!doctype html><html><head><meta charset=\"utf-8\"><title>tether notes</title>"
       "<link rel=\"stylesheet\" href=\"/static/style.css\"></head><body><main>"
       "<h1>Notes</h1><p class=\"meta\">This pad lives in memory on worker <b>";
  h += html_escape(route());
  h += "</b>, session <code>" + short_id() + "</code>, request #" + std::to_string(request_count());
  h += ", started because: <b>" + html_escape(reason_) + "</b>.</p>";
  h += "<form method=\"post\" action=\"/notes\"><input name=\"text\" maxlength=\"2000\" "
       "placeholder=\"Write a note\" autofocus required> <button>Add</button></form><ul>";
  for (const auto& n : notes_) {
    h += "<li>" + html_escape(n.text) +
         " <form class=\"inline\" method=\"post\" action=\"/notes/delete\"><input type=\"hidden\" name=\"id\" "
         "value=\"" +
         std::to_string(n.id) + "\"><button title=\"delete\">&times;</button></form></li>";
  }
  if (notes_.empty()) h += "<li class=\"empty\">No notes yet.</li>";
  h += "</ul><form method=\"post\" action=\"/logout\"><button>End this session</button></form>"
       "<p class=\"meta\">JSON: <a href=\"/api/notes\">/api/notes</a></p></main></body></html>";
  return Response::html(std::move(h));
}

}  // namespace demo
