#include "medpipe/core/log.h"

#include <ctime>
#include <iostream>
#include <mutex>

namespace medpipe {

std::string UtcTimestamp() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

void Log(LogLevel level, const std::string& message) {
  static std::mutex mutex;  // whole lines, even from worker threads
  const char* name = level == LogLevel::Info ? "INFO" : level == LogLevel::Warning ? "WARNING" : "ERROR";
  const std::lock_guard<std::mutex> lock(mutex);
  std::cerr << UtcTimestamp() << " " << name << " " << message << std::endl;
}

}  // namespace medpipe
