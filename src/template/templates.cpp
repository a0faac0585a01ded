// Loading and rendering mustache templates with a fragment cache (see templates.h).
#include "template/templates.h"

#include <re2/re2.h>

#include <filesystem>
#include <fstream>
#include <kainjow/mustache.hpp>
#include <sstream>

#include "common/log.h"

namespace tether {

namespace mu = kainjow::mustache;

struct Templates::Template {
  struct Segment {
    std::unique_ptr<mu::mustache> text;
    bool fragment = false;
    std::string key;  // "fragment:<id>"
    CachePolicy policy;
  };
  std::vector<Segment> segments;
};

namespace {

constexpr const char* kFragmentKeyPrefix = "fragment:";

// The fragment tags' patterns: RE2, over bytes. White space is spelled out
// as [\t\n\v\f\r ], what the tags always allowed (RE2's \s lacks \v).
RE2::Options tag_options() {
  RE2::Options opts;
  opts.set_encoding(RE2::Options::EncodingLatin1);
  return opts;
}

mu::data to_data(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      mu::data d{mu::data::type::object};
      for (auto& [k, v] : j.items()) d.set(k, to_data(v));
      return d;
    }
    case nlohmann::json::value_t::array: {
      mu::data d{mu::data::type::list};
      for (const auto& v : j) d.push_back(to_data(v));
      return d;
    }
    case nlohmann::json::value_t::string: return mu::data(j.get<std::string>());
    case nlohmann::json::value_t::boolean: return mu::data(j.get<bool>() ? mu::data::type::bool_true
                                                                           : mu::data::type::bool_false);
    case nlohmann::json::value_t::null: return mu::data(mu::data::type::bool_false);
    default: return mu::data(j.dump());  // numbers
  }
}

// Attributes of a fragment opening tag: id=x groups=a,b type=persistent timeout=30.
Result<Templates::Template::Segment> fragment_of(const std::string& attrs) {
  using R = Result<Templates::Template::Segment>;
  Templates::Template::Segment s;
  s.fragment = true;
  s.policy.mode = CacheMode::Normal;
  static const RE2 attr(R"re(([a-z]+)[\t\n\v\f\r ]*=[\t\n\v\f\r ]*"?([^"\t\n\v\f\r ]*)"?)re", tag_options());
  std::string id;
  re2::StringPiece rest(attrs);
  for (std::string k, v; RE2::FindAndConsume(&rest, attr, &k, &v);) {
    if (k == "id") {
      id = v;
    } else if (k == "groups") {
      std::stringstream ss(v);
      for (std::string g; std::getline(ss, g, ',');) {
        if (!g.empty()) s.policy.groups.push_back(g);
      }
    } else if (k == "type") {
      if (v == "persistent") s.policy.mode = CacheMode::Persistent;
      else if (v != "normal") return R::error("fragment type: expected normal, persistent or timeout=SECONDS, got " + v);
    } else if (k == "timeout") {
      char* end = nullptr;
      long secs = strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || secs <= 0) return R::error("fragment timeout: expected seconds, got " + v);
      s.policy.mode = CacheMode::Timeout;
      s.policy.timeout_ms = secs * 1000;
    } else {
      return R::error("fragment: unknown attribute '" + k + "' (id, groups, type, timeout)");
    }
  }
  if (id.empty()) return R::error("fragment: needs id=NAME");
  s.key = kFragmentKeyPrefix + id;
  return s;
}

// Parses one piece of template text; the error gives mustache's reason.
Status compile(const std::string& text, Templates::Template::Segment* s) {
  s->text = std::make_unique<mu::mustache>(text);
  if (!s->text->is_valid()) return Status::error(s->text->error_message());
  return Status::ok();
}

Result<std::shared_ptr<Templates::Template>> parse(const std::string& text) {
  using R = Result<std::shared_ptr<Templates::Template>>;
  static const RE2 tag(R"(\{\{![\t\n\v\f\r ]*(/?)cache\b([^}]*)\}\})", tag_options());
  auto t = std::make_shared<Templates::Template>();
  size_t pos = 0;
  bool open = false;
  Templates::Template::Segment current;
  // m[0] the whole tag, m[1] "/" when closing, m[2] the attributes.
  for (re2::StringPiece m[3]; tag.Match(text, pos, text.size(), RE2::UNANCHORED, m, 3);) {
    bool closing = !m[1].empty();
    if (closing != open) return R::error(closing ? "{{! /cache }} without an opening {{! cache ... }}"
                                                 : "fragments do not nest: {{! cache ... }} inside another");
    size_t start = static_cast<size_t>(m[0].data() - text.data());
    std::string piece = text.substr(pos, start - pos);
    if (Status s = compile(piece, &current); !s) return R::error(s.message());
    t->segments.push_back(std::move(current));
    current = {};
    if (!closing) {
      auto f = fragment_of(std::string(m[2]));
      if (!f) return R::error(f.message());
      current = std::move(f.value());
    }
    open = !closing;
    pos = start + m[0].size();
  }
  if (open) return R::error("{{! cache ... }} without {{! /cache }}");
  if (Status s = compile(text.substr(pos), &current); !s) return R::error(s.message());
  t->segments.push_back(std::move(current));
  return t;
}

}  // namespace

Status Templates::add(const std::string& name, const std::string& text) {
  auto t = parse(text);
  if (!t) return Status::error(name + ": " + t.message());
  by_name_[name] = t.value();
  const std::string ext = ".mustache";
  if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    by_name_[name.substr(0, name.size() - ext.size())] = t.value();
  }
  return Status::ok();
}

Result<std::shared_ptr<const Templates>> Templates::load(const std::string& dir) {
  using R = Result<std::shared_ptr<const Templates>>;
  auto out = std::make_shared<Templates>();
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return std::shared_ptr<const Templates>(out);
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec); !ec && it != decltype(it)(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".mustache") continue;
    std::ifstream in(it->path());
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) return R::error(it->path().string() + ": cannot read");
    std::string name = std::filesystem::relative(it->path(), dir).generic_string();
    if (Status s = out->add(name, ss.str()); !s) return R::error(dir + "/" + s.message());
  }
  if (ec) return R::error(dir + ": " + ec.message());
  return std::shared_ptr<const Templates>(out);
}

const Templates::Template* Templates::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.get();
}

Result<std::string> Templates::render(const std::string& name, const nlohmann::json& context,
                                      ResponseCache* fragments) const {
  using R = Result<std::string>;
  const Template* t = find(name);
  if (t == nullptr) return R::error("no template '" + name + "'");
  mu::data data = to_data(context.is_null() ? nlohmann::json::object() : context);
  std::string out;
  for (const auto& seg : t->segments) {
    if (seg.fragment && fragments != nullptr) {
      if (auto hit = fragments->get(seg.key)) {
        out += hit->body;
        continue;
      }
      uint64_t gen = fragments->generation();
      Response r;
      r.body = seg.text->render(data);
      out += r.body;
      fragments->put(seg.key, std::move(r), seg.policy, gen);
      continue;
    }
    out += seg.text->render(data);
    if (!seg.text->error_message().empty()) return R::error(name + ": " + seg.text->error_message());
  }
  return out;
}

void Templates::finish(Response& r, ResponseCache* fragments) const {
  if (r.template_name.empty()) return;
  auto body = render(r.template_name, r.template_context, fragments);
  if (!body) {
    log::error("template_failed", {{"error", body.message()}});
    r = Response::text("internal error: the page template failed\n", 500);
    return;
  }
  r.body = std::move(body.value());
  r.template_name.clear();
  r.template_context = nullptr;
}

}  // namespace tether
