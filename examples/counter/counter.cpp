// counter: a tether application built outside the tether tree, against the
// installed headers and libtether.a (see Makefile beside it and README.md,
// "Write your own application").
//
// - CounterSession: per-user state (a count and a name) on its session's
//   thread; snapshot()/restore() move it to another worker when its own
//   drains (a rolling restart keeps every count).
// - "health": a stateless controller, run on acceptor threads (thread-safe).
// - templates/counter.mustache: the page, rendered by the worker.
#include <tether/app.h>

#include <string>

namespace {

class CounterSession final : public tether::Session {
 public:
  tether::Response handle(const tether::Request& req) override {
    if (req.method == "POST" && req.path == "/name") {
      std::string name = req.form_param("name");
      if (name.empty() || name.size() > 64) return tether::Response::text("name: 1 to 64 bytes\n", 400);
      name_ = name;
      return tether::Response::redirect("./");  // relative: right under a path prefix too
    }
    if (req.path == "/count") return tether::Response::json(state().dump());
    if (req.path != "/") return tether::Response::text("not found\n", 404);
    ++count_;
    return tether::Response::render("counter", {{"count", count_}, {"name", name_}, {"owner", route()}});
  }

  std::optional<nlohmann::json> snapshot() const override { return state(); }

  bool restore(const nlohmann::json& s) override {
    // The state comes back from another worker: check it before using it.
    if (!s.is_object() || !s.contains("count") || !s["count"].is_number_integer() || !s.contains("name") ||
        !s["name"].is_string()) {
      return false;
    }
    count_ = s["count"].get<long>();
    name_ = s["name"].get<std::string>();
    return true;
  }

 private:
  nlohmann::json state() const { return {{"count", count_}, {"name", name_}}; }

  long count_ = 0;
  std::string name_ = "stranger";
};

}  // namespace

int main(int argc, char** argv) {
  tether::App app;
  app.session<CounterSession>("counter");  // "session": "counter" rules in tether.json
  app.controller("health", [](const tether::Request&) { return tether::Response::text("ok\n"); });
  return app.run(argc, argv);  // --config FILE --worker N, --check-config
}
