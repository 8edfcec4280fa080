#include <dcmtk/oflog/oflog.h>
#include <itkImage.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

#include "cli/commands.h"
#include "medpipe/core/error.h"

namespace {

const char* kUsage =
    "usage: medpipe COMMAND [options]\n"
    "commands:\n"
    "  scan ARCHIVE       index studies and series (headers only) as JSON\n"
    "  convert ARCHIVE OUT  each series to NIfTI (.nii.gz) plus a JSON sidecar\n"
    "  run INPUT OUT      the pipeline on DICOM and NIfTI: per-study result.json under OUT/studies/<id>/\n"
    "  features INPUT OUT   run with --output-types features: one embedding per series and model, OUT/features.csv\n"
    "  synth OUT          write the synthetic demo studies (CT, MR, DX), or one CT of any size, as DICOM\n"
    "  model check|seal DIR  verify a model package, or record its sha256 and golden output\n"
    "  report OUT         rebuild results.csv and report.html over every study in OUT (e.g. after shards)\n"
    "  listen --out OUT   receive studies over DICOM (C-STORE SCP) and run the pipeline on each when it is complete\n"
    "  fetch --pacs HOST:PORT --aec AET (--study UID | --date RANGE) --out DIR  query and retrieve studies from a PACS\n"
    "  review OUT         serve OUT's pages on 127.0.0.1 with sign-off (accept, reject, comment) into OUT/review.jsonl\n"
    "  send OUT --to HOST:PORT:AET  store the accepted studies' SEG, RTSTRUCT and verified SR on a PACS\n"
    "  codes              the problem codes a series can get, their effect and what to do, as Markdown\n"
    "Run 'medpipe COMMAND --help' for the options of a command.";

// The flag that sets each setting libraries name in their ConfigErrors ("overlap" -> "--overlap"):
// libraries know their settings, not the command line.
const std::map<std::string, std::string> kFlagOfSetting = {
    {"overlap", "--overlap"}, {"batch_size", "--batch-size"}, {"precision", "--precision"}, {"device", "--device"}};

}  // namespace

namespace medpipe::cli {

int ReportFatal(const std::exception& error) {
  const auto* config = dynamic_cast<const ConfigError*>(&error);
  const auto flag = config ? kFlagOfSetting.find(config->Where()) : kFlagOfSetting.end();
  std::cerr << "medpipe: " << (flag != kFlagOfSetting.end() ? flag->second + ": " + config->Reason() : error.what()) << "\n";
  return config ? kExitUsage : kExitCannotStart;
}

}  // namespace medpipe::cli

int main(int argc, char** argv) {
  // DCMTK's own log lines would repeat what medpipe reports per file.
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  // DCMTK leaves Nagle's algorithm on unless TCP_NODELAY is set: each C-STORE then waits for a
  // delayed ACK (32 objects into `listen`: 2.9 s with it, 0.08 s without). Set before any thread
  // exists; a value the user set wins.
  ::setenv("TCP_NODELAY", "1", 0);
  // ITK sets up its object factories on the first New() anywhere, and that set-up is not thread-safe:
  // two stage threads of a worker creating their first images at once aborted it (assertion in
  // ObjectFactoryBase::RegisterInternal). The first image made here, before any thread or fork, sets
  // them up for every process.
  itk::Image<float, 3>::New();
  using Command = int (*)(const std::vector<std::string>&);
  const std::map<std::string, Command> commands = {{"scan", medpipe::cli::ScanCommand},
                                                   {"convert", medpipe::cli::ConvertCommand},
                                                   {"run", medpipe::cli::RunCommand},
                                                   {"features", medpipe::cli::FeaturesCommand},
                                                   {"synth", medpipe::cli::SynthCommand},
                                                   {"model", medpipe::cli::ModelCommand},
                                                   {"report", medpipe::cli::ReportCommand},
                                                   {"listen", medpipe::cli::ListenCommand},
                                                   {"fetch", medpipe::cli::FetchCommand},
                                                   {"codes", medpipe::cli::CodesCommand},
                                                   {"review", medpipe::cli::ReviewCommand},
                                                   {"send", medpipe::cli::SendCommand}};
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage << "\n";
    return argc < 2 ? medpipe::cli::kExitUsage : medpipe::cli::kExitOk;
  }
  const auto command = commands.find(argv[1]);
  if (command == commands.end()) {
    std::cerr << "medpipe: unknown command '" << argv[1] << "'\n" << kUsage << "\n";
    return medpipe::cli::kExitUsage;
  }
  try {
    return command->second(std::vector<std::string>(argv + 2, argv + argc));
  } catch (const std::exception& error) {
    return medpipe::cli::ReportFatal(error);
  }
}
