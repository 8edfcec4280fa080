#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "cli/nnunet_import.h"
#include "cli/totalseg_import.h"
#include "medpipe/inference/device.h"
#include "medpipe/inference/model.h"

namespace po = boost::program_options;

namespace medpipe::cli {

// `medpipe model check DIR...`: load each package as `run` would (digest, TorchScript, golden vector).
// `medpipe model seal DIR`: record model.pt's sha256 and golden output in its manifest.
// `medpipe model import nnunet RESULTS_DIR --out DIR`: a package from an nnU-Net results folder.
// `medpipe model import totalsegmentator WEIGHTS_DIR --out DIR`: a model group of TotalSegmentator's parts.
int ModelCommand(const std::vector<std::string>& args) {
  if (!args.empty() && args.front() == "import") {
    if (args.size() > 1 && args[1] == "totalsegmentator") return TotalSegmentatorImportCommand({args.begin() + 1, args.end()});
    return ImportCommand({args.begin() + 1, args.end()});
  }
  po::options_description options("model options");
  options.add_options()
      ("action", po::value<std::string>()->required(), "check or seal")
      ("directory", po::value<std::vector<std::string>>()->required(), "model package folder(s)")
      ("device", po::value<std::string>()->default_value("auto"), "check: auto, cpu, cuda or cuda:N")
      ("precision", po::value<std::string>()->default_value("fp32"), "check: fp32, fp16, bf16 or auto");
  po::positional_options_description positional;
  positional.add("action", 1).add("directory", -1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, "usage: medpipe model check|seal DIR...\n       medpipe model import nnunet RESULTS_DIR --out DIR [--help]\n       medpipe model import totalsegmentator WEIGHTS_DIR --out DIR [--task total] [--help]", options, positional, vm, exit_code)) return exit_code;
  const std::string action = vm["action"].as<std::string>();
  const auto directories = vm["directory"].as<std::vector<std::string>>();
  if (action == "seal") {
    for (const auto& directory : directories) {
      inference::SealModel(directory);
      std::cout << "sealed " << directory << "\n";
    }
    return kExitOk;
  }
  if (action != "check") {
    std::cerr << "medpipe model: unknown action '" << action << "' (check, seal or import)\n";
    return kExitUsage;
  }
  const auto device = inference::ParseDevice(vm["device"].as<std::string>());
  const auto precision = inference::ParsePrecision(vm["precision"].as<std::string>());
  for (const auto& directory : directories) {
    const auto model = inference::LoadedModel::Load(directory, device, precision);
    const auto& m = model.Manifest();
    std::cout << nlohmann::json({{"model", m.name},
                                 {"version", m.version},
                                 {"task", model::TaskName(m.task)},
                                 {"sha256", m.sha256},
                                 {"device", model.Device().str()},
                                 {"precision", inference::PrecisionName(model.ActivePrecision())},
                                 {"precision_note", model.PrecisionNote()},
                                 {"golden", "passed"}})
              << "\n";
  }
  return kExitOk;
}

}  // namespace medpipe::cli
