#include <iostream>

#include "archive_walk.h"
#include "commands.h"
#include "medpipe/synth/synthetic_study.h"

namespace po = boost::program_options;

namespace medpipe::cli {

int SynthCommand(const std::vector<std::string>& args) {
  po::options_description options("synth options");
  options.add_options()("outdir", po::value<std::string>()->required(), "folder to write ct/, mr/ and dx/ into");
  po::positional_options_description positional;
  positional.add("outdir", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe synth OUTDIR", options, positional, vm, exit_code)) return exit_code;
  synth::WriteDemoStudies(vm["outdir"].as<std::string>());
  std::cout << "wrote demo studies to " << vm["outdir"].as<std::string>() << "\n";
  return kExitOk;
}

}  // namespace medpipe::cli
