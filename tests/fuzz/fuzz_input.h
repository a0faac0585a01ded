// A small cursor over a fuzzer's input, shared by the fuzz targets
// (tests/fuzz/*_fuzz.cpp): takes bytes, numbers and strings off the front,
// returning zeros and empty strings once the input runs out.
// Thread ownership: one per fuzz iteration, single-threaded.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace tether::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  size_t left() const { return n_; }
  uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  uint64_t number(int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | byte();
    return v;
  }
  // Up to max bytes: the length is one byte of the input (mod max + 1).
  std::string string(size_t max) {
    size_t len = byte() % (max + 1);
    return take(len);
  }
  std::string take(size_t len) {
    if (len > n_) len = n_;
    std::string s(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    n_ -= len;
    return s;
  }
  std::string rest() { return take(n_); }

 private:
  const uint8_t* p_;
  size_t n_;
};

}  // namespace tether::fuzz
