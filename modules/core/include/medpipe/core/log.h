#pragma once
// One log line per event on stderr: UTC timestamp, level, message. Messages carry UIDs, ids and
// file paths, never patient names, so logs can leave the hospital network for support.
#include <string>

namespace medpipe {

enum class LogLevel { Info, Warning, Error };

void Log(LogLevel level, const std::string& message);

// The current UTC time as ISO 8601, e.g. 2026-11-23T15:20:01Z.
std::string UtcTimestamp();

}  // namespace medpipe
