// Static files under a root, with path traversal refused (see static_files.h).
#include "http/static_files.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace tether {

const char* mime_type(const std::string& name) {
  size_t dot = name.rfind('.');
  std::string ext = dot == std::string::npos ? "" : name.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "js") return "text/javascript; charset=utf-8";
  if (ext == "json") return "application/json";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "jpg" || ext == "jpeg") return "image/jpeg";
  if (ext == "gif") return "image/gif";
  if (ext == "ico") return "image/x-icon";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

Result<std::unique_ptr<RouteHandler>> StaticFiles::make(const nlohmann::json& spec, const std::string& base_dir) {
  using R = Result<std::unique_ptr<RouteHandler>>;
  std::string root;
  int64_t max_bytes = 64 << 20;
  if (spec.is_string()) {
    root = spec.get<std::string>();
  } else if (spec.is_object() && spec.contains("root") && spec["root"].is_string()) {
    root = spec["root"].get<std::string>();
    if (spec.contains("max_bytes")) {
      if (!spec["max_bytes"].is_number_integer() || spec["max_bytes"].get<int64_t>() < 0) {
        return R::error("max_bytes: expected a non-negative integer");
      }
      max_bytes = spec["max_bytes"].get<int64_t>();
    }
  } else {
    return R::error("expected a directory name or {\"root\": \"dir\"}");
  }
  if (!root.empty() && root[0] != '/') root = base_dir + "/" + root;
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) == nullptr) return R::error("root directory " + root + " does not exist");
  struct stat st{};
  if (::stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) return R::error("root " + root + " is not a directory");
  return std::unique_ptr<RouteHandler>(new StaticFiles(real, max_bytes));
}

bool StaticFiles::inside_root(const std::string& path, std::string* resolved) const {
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) return false;
  resolved->assign(real);
  // Symlinks out of the root are refused as well.
  if (root_ == "/" || *resolved == root_) return true;
  return resolved->size() > root_.size() && resolved->compare(0, root_.size(), root_) == 0 &&
         (*resolved)[root_.size()] == '/';
}

Response StaticFiles::serve(Request& req, const RouteMatch& match) {
  if (req.method != "GET" && req.method != "HEAD") {
    return Response::text("method not allowed\n", 405).header("Allow", "GET, HEAD");
  }
  const std::string& rel = match.capture;
  // Refuse what could climb out before touching the file system at all.
  if (rel.find('\0') != std::string::npos || rel.find("..") != std::string::npos) {
    return Response::text("not found\n", 404);
  }
  std::string resolved;
  struct stat st{};
  if (!inside_root(root_ + "/" + rel, &resolved) || ::stat(resolved.c_str(), &st) != 0) {
    return Response::text("not found\n", 404);
  }
  if (S_ISDIR(st.st_mode)) {
    // index.html is checked like any file: it may be a symlink too.
    if (!inside_root(resolved + "/index.html", &resolved) || ::stat(resolved.c_str(), &st) != 0) {
      return Response::text("not found\n", 404);
    }
  }
  if (!S_ISREG(st.st_mode)) return Response::text("not found\n", 404);
  if (st.st_size > max_bytes_) return Response::text("file too large\n", 500);
  std::ifstream in(resolved, std::ios::binary);
  if (!in) return Response::text("not found\n", 404);
  std::ostringstream body;
  body << in.rdbuf();
  Response r;
  r.header("Content-Type", mime_type(resolved));
  r.body = body.str();
  return r;
}

}  // namespace tether
