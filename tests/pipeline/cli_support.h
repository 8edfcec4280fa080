#pragma once
// Running the medpipe executable from tests: exit code and everything it printed.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "medpipe/core/files.h"
#include "medpipe/synth/synthetic_study.h"

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

// COUNT small CT studies (24 x 24 x 12), ARCHIVE/<PREFIX><i> with seeds FIRST_SEED + i: quick to
// decode and to segment, for batch tests.
inline void WriteSmallCtStudies(const std::filesystem::path& archive, int count, const std::string& prefix,
                                uint32_t first_seed) {
  synth::VolumeSpec small;
  small.columns = small.rows = 24;
  small.slices = 12;
  for (int i = 0; i < count; ++i) synth::WriteSyntheticCt(archive / (prefix + std::to_string(i)), small, first_seed + i);
}

inline nlohmann::json ReadJson(const std::filesystem::path& path) { return nlohmann::json::parse(ReadFile(path)); }

}  // namespace medpipe::testing
