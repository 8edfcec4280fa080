#pragma once
// Errors about values given on the command line, in one shape: the flag, the value given and what is
// expected, e.g. "--max-inflight: is 0; expected at least 1 (studies in memory at once)".
#include <sstream>
#include <string>

#include "medpipe/core/error.h"

namespace medpipe::cli {

// A ConfigError saying that FLAG is VALUE where EXPECTED was wanted.
template <typename Value>
ConfigError OptionError(const std::string& flag, const Value& value, const std::string& expected) {
  std::ostringstream text;
  text << "is " << value << "; expected " << expected;
  return ConfigError(flag, text.str());
}

// VALUE when it is at least LEAST (NaN is not); else throws OptionError. UNIT_AND_MEANING follows the
// bound: " seconds (0: no limit)".
template <typename Number>
Number AtLeast(const std::string& flag, Number value, Number least, const std::string& unit_and_meaning = "") {
  if (value >= least) return value;
  std::ostringstream expected;
  expected << "at least " << least << unit_and_meaning;
  throw OptionError(flag, value, expected.str());
}

}  // namespace medpipe::cli
