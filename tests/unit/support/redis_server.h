// A private redis-server for unit tests: started on a free loopback port in a
// temporary directory, stopped (SIGTERM, waitpid) and removed on destruction.
// Owned by the thread that made it (the child dies with that thread).
#pragma once
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include <memory>

#include "redis/redis.h"

namespace tether::test_support {

// Polls cond every 5 ms until it holds, for at most `bound` (what a test
// awaits from another thread or from Redis; never a sleep as a condition).
template <class Cond>
bool eventually(Cond cond, std::chrono::milliseconds bound = std::chrono::seconds(5)) {
  auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// A loopback TCP port nobody listens on (bound, read, closed).
inline int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  int port = -1;
  if (::bind(s, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(s, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  ::close(s);
  return port;
}

class RedisServer {
 public:
  // extra: more redis-server arguments, e.g. {"--requirepass", "secret"}.
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    char tmpl[] = "/tmp/tether-redis-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return;
    dir_ = tmpl;
    port_ = free_port();
  }
  ~RedisServer() {
    stop();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const { return port_; }
  // Starts (again, on the same port) and waits until PING answers: false
  // after 10 s or if the server exits.
  bool start() {
    if (dir_.empty() || port_ <= 0 || pid_ > 0) return false;
    std::vector<std::string> args = {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1"};
    for (const char* a : {"--save", "", "--appendonly", "no", "--daemonize", "no"}) args.emplace_back(a);
    args.insert(args.end(), {"--dir", dir_, "--logfile", dir_ + "/redis.log"});
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // no orphan if the test binary dies
      if (::getppid() != parent) ::_exit(127);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    if (pid_ < 0) return false;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int st;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition with a deadline
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int st;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }

 private:
  bool ping() {
    RedisOptions o;
    o.port = port_;
    o.connect_timeout_ms = 200;
    for (size_t i = 0; i + 1 < extra_.size(); ++i) {
      if (extra_[i] == "--requirepass") o.password = extra_[i + 1];
    }
    Redis r(o);
    return r.command({"PING"}).is_ok();
  }

  std::vector<std::string> extra_;
  std::string dir_;
  int port_ = -1;
  pid_t pid_ = -1;
};

// A fixture whose suite shares one private redis-server. connect(tag), first
// thing in SetUp(), gives each test options (opts_) and a connection (redis_)
// with a key prefix of its own ("tag:TestName:"), so no test sees another's
// keys; a server that did not start fails the test there.
class RedisTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<RedisServer>();
    ok_ = server_->start();
  }
  static void TearDownTestSuite() { server_.reset(); }
  void connect(const std::string& tag) {
    ASSERT_TRUE(ok_) << "redis-server did not start";
    opts_.port = server_->port();
    opts_.prefix = tag + ":" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":";
    redis_ = std::make_unique<Redis>(opts_);
  }

  static inline std::unique_ptr<RedisServer> server_;
  static inline bool ok_ = false;
  RedisOptions opts_;
  std::unique_ptr<Redis> redis_;
};

}  // namespace tether::test_support
