#pragma once
// Each subcommand parses its own options and returns the process exit code.
#include <stdexcept>
#include <string>
#include <vector>

#include "isolation/exit_codes.h"

namespace medpipe::cli {

// Prints ERROR for the user and returns its exit code: kExitUsage for a ConfigError, else kExitCannotStart.
// A ConfigError about a library's setting ("overlap") is printed naming the flag that sets it ("--overlap").
int ReportFatal(const std::exception& error);

int ScanCommand(const std::vector<std::string>& args);
int ConvertCommand(const std::vector<std::string>& args);
int RunCommand(const std::vector<std::string>& args);
// `run ARGS --output-types features`: embeddings only (README: Embeddings).
int FeaturesCommand(const std::vector<std::string>& args);
int SynthCommand(const std::vector<std::string>& args);
int ModelCommand(const std::vector<std::string>& args);
int ReportCommand(const std::vector<std::string>& args);
int ListenCommand(const std::vector<std::string>& args);
int FetchCommand(const std::vector<std::string>& args);
int CodesCommand(const std::vector<std::string>& args);
// Sign-off (README: Review): serve OUT with accept/reject/comment; send the accepted studies.
int ReviewCommand(const std::vector<std::string>& args);
int SendCommand(const std::vector<std::string>& args);

}  // namespace medpipe::cli
