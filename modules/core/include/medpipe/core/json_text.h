#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace medpipe {

// VALUE as JSON text that is valid UTF-8 whatever bytes DICOM tags or file names put into it:
// invalid sequences become U+FFFD instead of throwing (nlohmann's default) mid-write.
// INDENT -1 gives one line.
inline std::string JsonText(const nlohmann::json& value, int indent = 2) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace medpipe
