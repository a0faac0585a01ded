// config::Section: the one reader of a JSON object of options in tether.json
// (the top level, "redis", and each component's own section: "cache",
// "journal", "workflows.<name>"). Every component reads its section with it,
// so every error reads alike:
//   <file>: field '<section>.<key>': expected <what>, got <value found>
// Each read leaves the default in *out when the key is absent. The first
// error is kept and every read after it does nothing, so a reader reads its
// fields in order and checks status() where it must stop.
//
// Thread safety: a short-lived value, used on the thread that parses; it
// refers to the JSON object, which must outlive it.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "common/result.h"

namespace tether::config {

class Section {
 public:
  // obj: the section's object (null: absent, every read keeps its default).
  // name: its path, "" for the top level ("workflows.thumbs" names a
  // nested one). file: put before every error as "<file>: " ("" = nothing).
  Section(const nlohmann::json& obj, std::string name, std::string file = "");

  // Refuses the first key that is not one of known:
  //   field '<section>.<key>': unknown field (misspelt? known: a, b, c)
  Section& known(std::initializer_list<const char*> keys);

  bool has(const char* key) const;
  // The value at key, or nullptr when absent (or the section is not an object).
  const nlohmann::json* find(const char* key) const;

  // An integer from lo to hi (a JSON integer: "5", 5.0 and 1.5 are refused).
  template <class T>
  void integer(const char* key, int64_t lo, int64_t hi, T* out) {
    static_assert(std::is_arithmetic_v<T>, "an integer field reads into a number");
    int64_t v = 0;
    if (read_integer(key, lo, hi, &v)) *out = static_cast<T>(v);
  }
  void boolean(const char* key, bool* out);  // true or false
  void string(const char* key, std::string* out);
  // A string that must not be empty; what says what it is ("a directory path").
  void non_empty(const char* key, const char* what, std::string* out);
  // One of choices: expected "a", "b" or "c", got ...
  void one_of(const char* key, std::initializer_list<const char*> choices, std::string* out);
  // A non-empty list of strings; what says what it looks like ("a list like [\"h:p\"]").
  void string_list(const char* key, const char* what, std::vector<std::string>* out);

  // Records an error about key (unless one is kept already):
  //   <file>: field '<path(key)>': <what>
  // key nullptr: about the section itself.
  void fail(const char* key, const std::string& what);
  // "<section>.<key>", or key alone at the top level.
  std::string path(const char* key) const;
  // How a found value is shown in errors: JSON text, invalid UTF-8
  // replaced, cut after 80 bytes.
  static std::string shown(const nlohmann::json& v);

  bool ok() const { return error_.empty(); }
  Status status() const { return ok() ? Status::ok() : Status::error(error_); }

 private:
  bool read_integer(const char* key, int64_t lo, int64_t hi, int64_t* out);
  // The value at key when it is there and no error is kept yet.
  const nlohmann::json* next(const char* key) const;

  const nlohmann::json& obj_;
  std::string name_;
  std::string file_;
  std::string error_;
};

}  // namespace tether::config
