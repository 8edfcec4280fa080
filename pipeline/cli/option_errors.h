#pragma once
// Errors about values given on the command line, in one shape: the flag, the value given and what is
// expected, e.g. "--max-inflight: is 0; expected at least 1 (studies in memory at once)".
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/program_options.hpp>

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

// Boost reads "-1" for an unsigned option as 2^32 - 1 (or 2^64 - 1): a negative count, port or seed is
// refused instead, in the shape above ("--port: is -1; expected a whole number, 0 or more"). Boost
// finds this overload of its validate() by argument-dependent lookup on boost::any, and prefers it for
// its exact int parameter; any translation unit that declares unsigned options includes this header.
namespace boost {
template <typename Unsigned, typename = std::enable_if_t<std::is_unsigned_v<Unsigned> && !std::is_same_v<Unsigned, bool>>>
void validate(boost::any& value, const std::vector<std::string>& given, Unsigned* type, int) {
  const std::string& text = program_options::validators::get_single_string(given);
  if (text.find('-') != std::string::npos) {
    program_options::error_with_option_name negative("%canonical_option%: is %value%; expected a whole number, 0 or more");
    negative.set_substitute("value", text);
    throw negative;  // Boost names the option as it passes the error on
  }
  program_options::validate(value, given, type, 0L);
}
}  // namespace boost
