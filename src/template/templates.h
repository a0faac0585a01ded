// Templates: the mustache templates (kainjow) a worker renders, loaded from
// one directory: every "*.mustache" file under it, named by its path
// relative to the directory, with or without the extension
// ("notes/page.mustache" is also "notes/page").
//
// Values are HTML-escaped unless written {{{triple}}}. A context is JSON
// (nlohmann): objects, arrays, strings, numbers, booleans; null is false.
//
// Fragment cache (as eptic's wpart:cache): a part between
//   {{! cache id=sidebar groups=news,menu type=persistent }} ... {{! /cache }}
// (type: normal (default) | persistent | timeout=SECONDS) is rendered once
// and kept in the worker's ResponseCache under the key "fragment:<id>", so
// every page sharing it reuses it until its groups (or the key) are
// invalidated. Fragments sit at the top level of a template (not inside a
// {{#section}}) and do not nest; both are load errors.
//
// Thread safety: load() builds an immutable set; render() may be called from
// any thread at once (the parsed templates are only read while rendering).
#pragma once
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cache/store.h"
#include "common/result.h"

namespace tether {

class Templates {
 public:
  // Every *.mustache file under dir; a missing dir is an empty set. The
  // error names the file and what is wrong with it.
  static Result<std::shared_ptr<const Templates>> load(const std::string& dir);
  // One template from its text (tests, rules that name a file).
  Status add(const std::string& name, const std::string& text);

  bool has(const std::string& name) const { return find(name) != nullptr; }
  size_t size() const { return by_name_.size(); }
  // fragments: where fragment sections are kept; null renders them every time.
  Result<std::string> render(const std::string& name, const nlohmann::json& context,
                             ResponseCache* fragments) const;
  // Renders a Response::render() response into its body, in place; a
  // failure becomes a 500 (logged). Other responses are left alone.
  void finish(Response& r, ResponseCache* fragments) const;

  struct Template;  // parsed segments (templates.cpp)

 private:
  const Template* find(const std::string& name) const;
  std::map<std::string, std::shared_ptr<Template>> by_name_;
};

}  // namespace tether
