#include "medpipe/core/fail_point.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "medpipe/core/error.h"
#include "medpipe/core/log.h"

namespace medpipe {

void FailPoint(std::string_view step) {
  static const char* const wanted = std::getenv("MEDPIPE_FAILPOINT");
  if (wanted == nullptr) return;
  if (std::string(step) + ":throw" == wanted) throw IoError(std::string(step), "failure injected by MEDPIPE_FAILPOINT");
  if (step != wanted) return;
  Log(LogLevel::Warning, "fail-point " + std::string(step) + ": exiting");
  ::_exit(kFailPointExitCode);
}

}  // namespace medpipe
