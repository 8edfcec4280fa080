#pragma once
// Running the medpipe executable from tests: exit code and everything it printed.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "medpipe/core/files.h"

namespace medpipe::testing {

struct Run {
  int exit_code;
  std::string output;
};

// COMMAND through the shell, its stdout and stderr captured in LOG.
inline Run Shell(const std::string& command, const std::filesystem::path& log) {
  const int status = std::system((command + " > " + log.string() + " 2>&1").c_str());
  return {WEXITSTATUS(status), ReadFile(log)};
}

inline Run Medpipe(const std::string& args, const std::filesystem::path& log) {
  return Shell(std::string(MEDPIPE_BINARY) + " " + args, log);
}

inline nlohmann::json ReadJson(const std::filesystem::path& path) { return nlohmann::json::parse(ReadFile(path)); }

}  // namespace medpipe::testing
