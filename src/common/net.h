// Stream sockets for the clients that call other workers: connect with a
// deadline, write and read whole buffers with one, on "unix:/path" or
// "IPv4:port" addresses. The fds are non-blocking; each call polls.
// Thread ownership: free functions; an fd belongs to its caller.
#pragma once
#include <chrono>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace tether::net {

using Clock = std::chrono::steady_clock;

// Milliseconds from now to deadline, 0 when it has passed.
int ms_left(Clock::time_point deadline);
// Non-blocking connect bounded by deadline. Empty on failure (errno set).
unique_fd connect_stream(const std::string& addr, Clock::time_point deadline);
// Writes all of data; false on an error or when the deadline passes.
bool write_all(int fd, std::string_view data, Clock::time_point deadline);
// Reads exactly n bytes into out. Ok; Closed (the peer closed before the
// first byte); Timeout; Broken (closed or failed part-way, or an error).
enum class ReadStatus { Ok, Closed, Timeout, Broken };
ReadStatus read_exact(int fd, char* out, size_t n, Clock::time_point deadline);

}  // namespace tether::net
