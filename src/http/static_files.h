// The "file" rule kind: serves files under a root directory, never outside it.
// Spec: "dir" or {"root": "dir", "max_bytes": N}; the file is root + the
// rule's first capture group (or the whole path).
// Thread safety: immutable after construction; serve() from any thread.
#pragma once
#include <string>

#include "http/router.h"

namespace tether {

class StaticFiles final : public RouteHandler {
 public:
  // base_dir resolves a relative root (the config file's directory).
  static Result<std::unique_ptr<RouteHandler>> make(const nlohmann::json& spec, const std::string& base_dir);
  Response serve(Request& req, const RouteMatch& match) override;

 private:
  StaticFiles(std::string root, int64_t max_bytes) : root_(std::move(root)), max_bytes_(max_bytes) {}
  // Resolves path (following symlinks) and says whether it stays under root_.
  bool inside_root(const std::string& path, std::string* resolved) const;
  std::string root_;  // realpath of the root, no trailing slash
  int64_t max_bytes_;
};

// Content-Type for a file name by its extension.
const char* mime_type(const std::string& name);

}  // namespace tether
