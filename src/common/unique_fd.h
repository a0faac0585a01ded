// unique_fd: owns one file descriptor and closes it exactly once, on every
// path (the destructor, reset(), or close() for a caller that must see
// close(2)'s error, as a write-then-close does). Move-only; release() hands
// the descriptor on without closing it. The destructor and reset() keep
// errno as it was, so an error built from errno after the owner went away
// still names the failure that mattered, not the close.
//
// Thread safety: like an int; one owner at a time, the descriptor itself may
// be used from any thread that has get().
#pragma once
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace tether {

class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

  // Gives up ownership: the caller closes what this returns.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }

  // Closes the one held (if any) and holds fd instead; errno is kept.
  void reset(int fd = -1) {
    int old = std::exchange(fd_, fd);
    if (old >= 0 && old != fd) {
      int saved = errno;
      ::close(old);
      errno = saved;
    }
  }

  // Closes now and returns close(2)'s result (0, or -1 with errno set);
  // 0 when nothing was held.
  int close() {
    int old = std::exchange(fd_, -1);
    return old >= 0 ? ::close(old) : 0;
  }

 private:
  int fd_ = -1;
};

}  // namespace tether
