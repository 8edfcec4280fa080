#include <iostream>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "medpipe/core/json_text.h"
#include "medpipe/dicom/index_json.h"

namespace po = boost::program_options;

namespace medpipe::cli {

int ScanCommand(const std::vector<std::string>& args) {
  po::options_description options("scan options");
  options.add_options()
      ("archive", po::value<std::string>()->required(), "folder, file or DICOMDIR to index")
      ("out,o", po::value<std::string>(), "write the index here instead of stdout");
  AddArchiveOptions(options);
  po::positional_options_description positional;
  positional.add("archive", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe scan ARCHIVE [--out FILE]", options, positional, vm, exit_code)) {
    return exit_code;
  }
  const std::string json = JsonText(dicom::IndexToJson(IndexArchive(vm))) + "\n";
  if (vm.count("out")) {
    WriteFileAtomically(vm["out"].as<std::string>(), json);
  } else {
    std::cout << json;
  }
  return kExitOk;
}

}  // namespace medpipe::cli
