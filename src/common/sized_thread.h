// SizedThread: a joinable thread with a stack size chosen by its creator
// (std::thread cannot set one). For threads whose stack depth grows with
// their input, such as the acceptor threads that run std::regex, which
// recurses once per character of the path.
// Thread ownership: owned and joined by the thread that made it, like
// std::thread; destroying one that is still joinable terminates.
#pragma once
#include <pthread.h>

#include <cerrno>
#include <exception>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>

namespace tether {

class SizedThread {
 public:
  // Throws std::system_error if the thread cannot be created.
  SizedThread(size_t stack_bytes, std::function<void()> fn) {
    auto body = std::make_unique<std::function<void()>>(std::move(fn));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    int rc = pthread_attr_setstacksize(&attr, stack_bytes);
    if (rc == 0) rc = pthread_create(&id_, &attr, &SizedThread::trampoline, body.get());
    pthread_attr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_create");
    body.release();  // the thread owns it now
    joinable_ = true;
  }
  SizedThread(SizedThread&& o) noexcept : id_(o.id_), joinable_(std::exchange(o.joinable_, false)) {}
  SizedThread& operator=(SizedThread&&) = delete;
  SizedThread(const SizedThread&) = delete;
  ~SizedThread() {
    if (joinable_) std::terminate();
  }

  bool joinable() const { return joinable_; }
  void join() {
    pthread_join(id_, nullptr);
    joinable_ = false;
  }

 private:
  static void* trampoline(void* arg) {
    std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
    (*body)();
    return nullptr;
  }

  pthread_t id_{};
  bool joinable_ = false;
};

}  // namespace tether
