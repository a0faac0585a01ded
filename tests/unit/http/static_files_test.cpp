// Tests the "file" rule kind (src/http/static_files): serving, traversal refusal and make() errors.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "http/static_files.h"

namespace tether {
namespace {

using nlohmann::json;

// A temporary tree:
//   <tmp>/root/hello.txt, style.css, page.html, noext, sub/index.html, empty/,
//            inside -> hello.txt, escape -> ../outside/secret.txt, escape_dir -> ../outside
//   <tmp>/outside/secret.txt
//   <tmp>/rootish/secret.txt   (a sibling whose name starts with "root")
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tether_static_test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    root_ = tmp_ + "/root";
    for (const char* d : {"/root", "/root/sub", "/root/empty", "/outside", "/rootish"}) {
      ASSERT_TRUE(std::filesystem::create_directory(tmp_ + d));
    }
    write("root/hello.txt", "hello\n");
    write("root/style.css", "body{}");
    write("root/page.html", "<p>page</p>");
    write("root/noext", std::string("\0\1\2", 3));
    write("root/sub/index.html", "<h1>sub</h1>");
    write("outside/secret.txt", "secret");
    write("rootish/secret.txt", "secret too");
    ASSERT_EQ(::symlink("hello.txt", (root_ + "/inside").c_str()), 0);
    ASSERT_EQ(::symlink("../outside/secret.txt", (root_ + "/escape").c_str()), 0);
    ASSERT_EQ(::symlink("../outside", (root_ + "/escape_dir").c_str()), 0);
    auto made = StaticFiles::make(json(root_), "/unused");
    ASSERT_TRUE(made) << made.message();
    files_ = std::move(made.value());
  }
  void TearDown() override { std::filesystem::remove_all(tmp_); }

  void write(const std::string& rel, const std::string& text) {
    std::ofstream(tmp_ + "/" + rel, std::ios::binary) << text;
  }
  Response fetch(const std::string& capture, const std::string& method = "GET") {
    Request req;
    req.method = method;
    req.path = "/static/" + capture;
    return files_->serve(req, RouteMatch{capture});
  }
  static std::string content_type(const Response& r) {
    for (const auto& [name, value] : r.headers) {
      if (name == "Content-Type") return value;
    }
    return "";
  }

  std::string tmp_, root_;
  std::unique_ptr<RouteHandler> files_;
};

TEST_F(StaticFilesTest, ServesAFileWithItsContentType) {
  Response r = fetch("hello.txt");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello\n");
  EXPECT_EQ(content_type(r), "text/plain; charset=utf-8");
  EXPECT_EQ(content_type(fetch("style.css")), "text/css; charset=utf-8");
  EXPECT_EQ(fetch("style.css").body, "body{}");
  EXPECT_EQ(content_type(fetch("page.html")), "text/html; charset=utf-8");
  Response bin = fetch("noext");
  EXPECT_EQ(bin.body, std::string("\0\1\2", 3));
  EXPECT_EQ(content_type(bin), "application/octet-stream");
}

TEST_F(StaticFilesTest, HeadIsAllowed) { EXPECT_EQ(fetch("hello.txt", "HEAD").status, 200); }

TEST_F(StaticFilesTest, MissingFileIs404) {
  EXPECT_EQ(fetch("nope.txt").status, 404);
  EXPECT_EQ(fetch("sub/nope.txt").status, 404);
  EXPECT_EQ(fetch("hello.txt/x").status, 404);
}

TEST_F(StaticFilesTest, TraversalIs404) {
  for (const std::string& bad : std::vector<std::string>{"../outside/secret.txt", "../../etc/passwd", "../etc/passwd", "sub/../../outside/secret.txt",
                          "..", "../rootish/secret.txt", std::string("hello.txt\0x", 11)}) {
    Response r = fetch(bad);
    EXPECT_EQ(r.status, 404) << bad;
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << bad;
  }
}

TEST_F(StaticFilesTest, AbsoluteCaptureStaysUnderTheRoot) {
  Response r = fetch(tmp_ + "/outside/secret.txt");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(fetch("/hello.txt").body, "hello\n");
}

TEST_F(StaticFilesTest, SymlinkInsideTheRootIsServed) {
  Response r = fetch("inside");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello\n");
}

TEST_F(StaticFilesTest, SymlinkEscapingTheRootIs404) {
  EXPECT_EQ(fetch("escape").status, 404);
  EXPECT_EQ(fetch("escape_dir/secret.txt").status, 404);
  EXPECT_EQ(fetch("escape_dir").status, 404);
}

// Regression: index.html was opened without checking that it stays under the root.
TEST_F(StaticFilesTest, IndexSymlinkEscapingTheRootIs404) {
  ASSERT_TRUE(std::filesystem::create_directory(root_ + "/trap"));
  ASSERT_EQ(::symlink("../../outside/secret.txt", (root_ + "/trap/index.html").c_str()), 0);
  Response r = fetch("trap");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body.find("secret"), std::string::npos);
}

TEST_F(StaticFilesTest, DirectoryServesItsIndex) {
  for (std::string dir : {"sub", "sub/", ""}) {
    Response r = fetch(dir);
    if (dir.empty()) {
      EXPECT_EQ(r.status, 404) << "the root has no index.html";
      continue;
    }
    EXPECT_EQ(r.status, 200) << dir;
    EXPECT_EQ(r.body, "<h1>sub</h1>") << dir;
    EXPECT_EQ(content_type(r), "text/html; charset=utf-8") << dir;
  }
  EXPECT_EQ(fetch("empty").status, 404);
}

TEST_F(StaticFilesTest, OtherMethodsAre405) {
  for (std::string m : {"POST", "PUT", "DELETE", "get"}) {
    Response r = fetch("hello.txt", m);
    EXPECT_EQ(r.status, 405) << m;
    EXPECT_EQ(r.body.find("hello"), std::string::npos);
    bool allow = false;
    for (const auto& [name, value] : r.headers) allow = allow || (name == "Allow" && value == "GET, HEAD");
    EXPECT_TRUE(allow) << m;
  }
}

TEST_F(StaticFilesTest, RelativeRootResolvesAgainstTheBaseDir) {
  auto made = StaticFiles::make(json("root"), tmp_);
  ASSERT_TRUE(made) << made.message();
  Request req;
  req.method = "GET";
  EXPECT_EQ(made.value()->serve(req, RouteMatch{"hello.txt"}).body, "hello\n");
  auto object = StaticFiles::make(json{{"root", "root/sub"}}, tmp_);
  ASSERT_TRUE(object) << object.message();
  EXPECT_EQ(object.value()->serve(req, RouteMatch{"index.html"}).body, "<h1>sub</h1>");
}

// A root of "/" serves what is under it (a regression: it once served nothing).
TEST_F(StaticFilesTest, FileSystemRootCanBeTheRoot) {
  auto made = StaticFiles::make(json("/"), "/unused");
  ASSERT_TRUE(made) << made.message();
  Request req;
  req.method = "GET";
  Response r = made.value()->serve(req, RouteMatch{root_.substr(1) + "/hello.txt"});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello\n");
}

TEST_F(StaticFilesTest, FilesOverMaxBytesAreRefused) {
  auto made = StaticFiles::make(json{{"root", root_}, {"max_bytes", 6}}, "/");
  ASSERT_TRUE(made) << made.message();
  Request req;
  req.method = "GET";
  EXPECT_EQ(made.value()->serve(req, RouteMatch{"hello.txt"}).status, 200);  // exactly 6 bytes
  Response big = made.value()->serve(req, RouteMatch{"page.html"});
  EXPECT_NE(big.status, 200);
  EXPECT_EQ(big.body.find("page"), std::string::npos);
}

TEST_F(StaticFilesTest, MakeRefusesBadRoots) {
  auto missing = StaticFiles::make(json(tmp_ + "/nope"), "/");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.message().find(tmp_ + "/nope"), std::string::npos) << missing.message();
  auto file = StaticFiles::make(json(root_ + "/hello.txt"), "/");
  ASSERT_FALSE(file);
  EXPECT_NE(file.message().find("not a directory"), std::string::npos) << file.message();
  EXPECT_FALSE(StaticFiles::make(json("nope"), tmp_));
}

TEST_F(StaticFilesTest, MakeRefusesBadSpecs) {
  for (json bad : {json(42), json(nullptr), json::array({root_}), json{{"dir", root_}}, json{{"root", 5}},
                   json{{"root", root_}, {"max_bytes", -1}}, json{{"root", root_}, {"max_bytes", "big"}}}) {
    auto r = StaticFiles::make(bad, "/");
    EXPECT_FALSE(r) << bad.dump();
    EXPECT_FALSE(r.message().empty()) << bad.dump();
  }
}

TEST(MimeTypeTest, KnownAndUnknownExtensions) {
  EXPECT_STREQ(mime_type("a.js"), "text/javascript; charset=utf-8");
  EXPECT_STREQ(mime_type("a.json"), "application/json");
  EXPECT_STREQ(mime_type("a.png"), "image/png");
  EXPECT_STREQ(mime_type("a.jpeg"), "image/jpeg");
  EXPECT_STREQ(mime_type("a.svg"), "image/svg+xml");
  EXPECT_STREQ(mime_type("dir.d/file"), "application/octet-stream");
  EXPECT_STREQ(mime_type("a.exe"), "application/octet-stream");
  EXPECT_STREQ(mime_type("Makefile"), "application/octet-stream");
}

}  // namespace
}  // namespace tether
