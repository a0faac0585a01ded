// The strict command-line parser (see flags.h).
#include "common/flags.h"

#include <cerrno>
#include <cstdlib>

namespace tether {

Result<int64_t> parse_integer(const std::string& text, int64_t lo, int64_t hi) {
  auto expected = [&] {
    return Status::error("expected a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                         ", got \"" + text + "\"");
  };
  if (text.empty() || text.size() > 20 || text[0] == ' ' || text[0] == '+') return expected();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return expected();
  return static_cast<int64_t>(v);
}

Flags& Flags::flag(const std::string& name, bool* out) {
  options_.push_back({name, false, [out](const std::string&) {
                        *out = true;
                        return Status::ok();
                      }});
  return *this;
}

Flags& Flags::text(const std::string& name, std::string* out) {
  options_.push_back({name, true, [out](const std::string& v) {
                        *out = v;
                        return Status::ok();
                      }});
  return *this;
}

Flags& Flags::texts(const std::string& name, std::vector<std::string>* out) {
  options_.push_back({name, true, [out](const std::string& v) {
                        out->push_back(v);
                        return Status::ok();
                      }});
  return *this;
}

Flags& Flags::integer(const std::string& name, int64_t lo, int64_t hi, int64_t* out) {
  options_.push_back({name, true, [lo, hi, out](const std::string& v) -> Status {
                        auto n = parse_integer(v, lo, hi);
                        if (!n) return n.status();
                        *out = *n;
                        return Status::ok();
                      }});
  return *this;
}

Flags& Flags::stop_at(const std::string& word) {
  stop_words_.push_back(word);
  return *this;
}

const Flags::Option* Flags::find(const std::string& name) const {
  for (const auto& o : options_) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

Status Flags::parse(const std::vector<std::string>& args, std::vector<std::string>* positional) const {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    bool stop = a == "--";
    for (const auto& w : stop_words_) stop |= positional->empty() && a == w;
    if (stop) {
      positional->insert(positional->end(), args.begin() + static_cast<long>(i) + (a == "--" ? 1 : 0), args.end());
      return Status::ok();
    }
    if (a.size() < 2 || a[0] != '-') {
      positional->push_back(a);
      continue;
    }
    std::string name = a, value;
    bool inline_value = false;
    if (size_t eq = a.find('='); eq != std::string::npos && a.rfind("--", 0) == 0) {  // --name=value
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
      inline_value = true;
    }
    const Option* o = find(name);
    if (o == nullptr) return Status::error(program_ + ": unknown option " + name);
    if (!o->takes_value) {
      if (inline_value) return Status::error(program_ + ": " + name + ": takes no value");
      if (Status s = o->set(""); !s) return s;
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) return Status::error(program_ + ": " + name + ": needs a value");
      value = args[++i];
    }
    if (Status s = o->set(value); !s) return Status::error(program_ + ": " + name + ": " + s.message());
  }
  return Status::ok();
}

Status Flags::parse(int argc, char** argv, std::vector<std::string>* positional) const {
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  return parse(args, positional);
}

}  // namespace tether
