// Flags: the one command-line parser of tetherd, tetherctl and their
// subcommands, strict everywhere. Each option is declared with where its
// value goes; an unknown option, a missing value, or a value that does not
// parse (an integer with trailing text or out of range) is an error that
// names the option and what was expected, and nothing is guessed (no
// `--limit abc` read as 0). Words that are not options are positional, in
// order; after a declared stop word (tetherctl's "journal", whose options
// are its own) or "--", the rest is positional as it is.
//
// Thread safety: build and parse on one thread; the outputs are the caller's.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/result.h"

namespace tether {

class Flags {
 public:
  explicit Flags(std::string program) : program_(std::move(program)) {}

  Flags& flag(const std::string& name, bool* out);                    // --name: sets *out
  Flags& text(const std::string& name, std::string* out);             // --name VALUE
  Flags& texts(const std::string& name, std::vector<std::string>* out);  // repeatable
  Flags& integer(const std::string& name, int64_t lo, int64_t hi, int64_t* out);  // --name N, lo <= N <= hi
  // The first positional word equal to `word` ends option parsing.
  Flags& stop_at(const std::string& word);

  // Error: "<program>: <option>: <what was expected>".
  Status parse(const std::vector<std::string>& args, std::vector<std::string>* positional) const;
  Status parse(int argc, char** argv, std::vector<std::string>* positional) const;  // argv[0] skipped

 private:
  struct Option {
    std::string name;
    bool takes_value = false;
    std::function<Status(const std::string&)> set;
  };
  const Option* find(const std::string& name) const;

  std::string program_;
  std::vector<Option> options_;
  std::vector<std::string> stop_words_;
};

// Reads a whole decimal integer in [lo, hi]; error says what was expected.
Result<int64_t> parse_integer(const std::string& text, int64_t lo, int64_t hi);

}  // namespace tether
