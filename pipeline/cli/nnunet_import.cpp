#include "cli/nnunet_import.h"

#include <unistd.h>

#include <array>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>

#include <nlohmann/json.hpp>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "cli/nnunet_import_segments.h"
#include "isolation/child_process.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/inference/model.h"
#include "medpipe/model/manifest.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using nlohmann::json;

namespace medpipe::cli {
namespace {

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kUsage[] =
    "usage: medpipe model import nnunet RESULTS_DIR --out models/NAME [--configuration 3d_fullres] "
    "[--folds 0,1,...|all] [--checkpoint final|best] [--name NAME] [--dicom-voxel-order dcm2niix|medpipe] "
    "[--postprocessing auto|none|FILE] [--segment-attributes FILE]";
// Label colours, in order (Okabe-Ito, then a few more).
constexpr std::array<std::array<int, 3>, 10> kColours{{{230, 159, 0}, {86, 180, 233}, {0, 158, 115}, {240, 228, 66},
                                                       {0, 114, 178}, {213, 94, 0}, {204, 121, 167}, {255, 0, 0},
                                                       {128, 0, 255}, {0, 255, 128}}};

// The exporter: MEDPIPE_NNUNET_EXPORTER, else scripts/ of the source tree medpipe was built from.
fs::path ExporterScript() {
  if (const char* path = std::getenv("MEDPIPE_NNUNET_EXPORTER")) return path;
  return fs::path(MEDPIPE_SCRIPTS_DIR) / "nnunet_export.py";
}

// Runs ARGV (ARGV[0] the program), its output on ours; returns its exit code, -1 when it did not exit.
int RunProgram(const std::vector<std::string>& argv, bool quiet = false) {
  ChildProcess child = ChildProcess::Fork();
  if (child.InChild()) {
    if (quiet) {
      std::freopen("/dev/null", "w", stdout);
      std::freopen("/dev/null", "w", stderr);
    }
    std::vector<char*> pointers;
    for (const auto& arg : argv) pointers.push_back(const_cast<char*>(arg.c_str()));
    pointers.push_back(nullptr);
    ::execv(pointers[0], pointers.data());
    ::_exit(127);
  }
  const ChildExit exit = child.Wait();
  return exit.Exited() ? exit.ExitCode() : -1;
}

// What the exporter needs before it is run, each missing piece named with how to get it.
void CheckExporter(const fs::path& script) {
  if (!fs::is_regular_file(kPython))
    throw ConfigError("python", std::string(kPython) + " is missing; install Debian's python3 and python3-torch (scripts/setup.sh)");
  if (!fs::is_regular_file(script))
    throw ConfigError("exporter", script.string() + " is missing; set MEDPIPE_NNUNET_EXPORTER to scripts/nnunet_export.py of medpipe's sources");
  if (RunProgram({kPython, "-c", "import torch, numpy, scipy"}, true) != 0)
    throw ConfigError("python3-torch", std::string(kPython) + " cannot import torch, numpy and scipy; install Debian's "
                                       "python3-torch, python3-numpy and python3-scipy (apt-get install python3-torch "
                                       "python3-scipy, or scripts/setup.sh)");
}

json ReadJson(const fs::path& path) {
  try {
    return json::parse(ReadFile(path));
  } catch (const json::exception& error) {
    throw ModelError(path.string(), std::string("is not valid JSON: ") + error.what());
  }
}

// dataset.json of the trainer folder the export came from: RESULTS_DIR itself or its SOURCE subfolder.
json DatasetJson(const fs::path& results_dir, const json& plan) {
  const fs::path trainer = fs::path(plan.value("source", "")).filename();
  for (const fs::path& candidate : {results_dir / "dataset.json", results_dir / trainer / "dataset.json"})
    if (fs::is_regular_file(candidate)) return ReadJson(candidate);
  return json::object();
}

// The DICOM Modality a channel of nnU-Net's channel_names comes from: CT for CT normalisation, MR for the
// usual MR names, else OT (which no DICOM series has: the model then reads NIfTI input only).
std::string ModalityOf(const std::string& name, const std::string& scheme) {
  if (scheme == "CTNormalization" || name == "CT") return "CT";
  static const std::regex mr("mr|mri|t1.*|t2.*|flair|adc|dwi|pd|swi|bold", std::regex::icase);
  if (std::regex_match(name, mr)) return "MR";
  std::cerr << "medpipe model import: channel '" << name
            << "': modality unknown, recorded as OT; set input.channels[].modality in manifest.json so that DICOM "
               "series of the right modality are read\n";
  return "OT";
}

json Labels(const json& plan) {
  json labels = json::array();
  const json& table = plan.at("labels");
  const bool regions = plan.value("has_regions", false);
  std::vector<std::pair<int, std::string>> ordered;
  if (regions) {
    // The exporter's list, in output-channel order: `labels` is an object, whose keys nlohmann::json sorts, so the
    // k-th region there need not be the one regions_class_order[k] paints. Named after the region that paints it.
    for (const auto& region : plan.at("regions")) ordered.emplace_back(region.at("label").get<int>(), region.at("name"));
  } else {
    // A one-element list is a plain label to nnU-Net (LabelManager: regions are lists of more than one).
    const json ignore = plan.value("ignore_label", json());
    for (const auto& [name, given] : table.items()) {
      const json& value = given.is_array() && given.size() == 1 ? given.front() : given;
      if (value.is_number_integer() && value != 0 && value != ignore) ordered.emplace_back(value.get<int>(), name);
    }
  }
  std::sort(ordered.begin(), ordered.end());
  for (size_t i = 0; i < ordered.size(); ++i)
    labels.push_back({{"value", ordered[i].first}, {"name", ordered[i].second}, {"colour", kColours[i % kColours.size()]}});
  return labels;
}

// nnunet.json's postprocessing steps (postprocessing.json, as the exporter read it): each step's labels.
json LargestComponentSteps(const json& plan) {
  json steps = json::array();
  const json& postprocessing = plan.value("postprocessing", json());
  if (postprocessing.is_object())
    for (const auto& step : postprocessing.at("steps")) steps.push_back(step.at("labels"));
  return steps;
}

std::string FoldsText(const json& plan) {
  std::string folds;
  for (const auto& fold : plan.at("folds")) folds += (folds.empty() ? "" : ",") + (fold.at("fold").is_string() ? fold.at("fold").get<std::string>() : fold.at("fold").dump());
  return folds;
}

// manifest.json for the exported PACKAGE: segmentation, labels and channels from nnunet.json and dataset.json,
// the plan's digest, and golden.input_shape for sealing.
json NnunetManifest(const fs::path& package, const json& dataset, const std::string& name, const std::string& voxel_order,
                    const std::optional<fs::path>& segment_attributes) {
  const json plan = ReadJson(package / "nnunet.json");
  json channels = json::array();
  for (const auto& entry : plan.at("normalization"))
    channels.push_back({{"name", entry.at("channel_name")}, {"modality", ModalityOf(entry.at("channel_name"), entry.at("scheme"))}});
  std::vector<int64_t> input_shape{1, static_cast<int64_t>(channels.size())};
  for (const auto& n : plan.at("patch_size")) input_shape.push_back(n.get<int64_t>());
  const std::string checkpoint = plan.at("checkpoint").get<std::string>();
  const std::string licence = dataset.value("licence", dataset.value("license", ""));
  return {{"name", name},
          {"version", plan.at("configuration").get<std::string>() + "-" + checkpoint.substr(0, checkpoint.find('.')) +
                          "-folds-" + std::regex_replace(FoldsText(plan), std::regex(","), "-")},
          {"task", "segmentation"},
          {"description", "nnU-Net v2 " + plan.at("source").get<std::string>() + ", folds " + FoldsText(plan) + ", " +
                              checkpoint + "; imported by `medpipe model import nnunet` (see MODEL_CARD.md)"},
          {"license", licence.empty() ? "not stated in dataset.json; see MODEL_CARD.md" : licence},
          {"training_data", plan.at("dataset_name").get<std::string>() + ": " +
                                dataset.value("description", std::string("no description in dataset.json"))},
          {"sha256", std::string(64, '0')},
          {"preprocessing", "nnunet"},
          {"nnunet", {{"plan", "nnunet.json"},
                      {"plan_sha256", Sha256File(package / "nnunet.json")},
                      {"dicom_voxel_order", voxel_order},
                      {"keep_largest_component", LargestComponentSteps(plan)}}},
          {"input", {{"channels", channels}, {"spatial_dims", 3}}},
          {"output", {{"activation", plan.value("has_regions", false) ? "sigmoid" : "softmax"},
                      {"labels", segment_attributes ? LabelsWithSegmentAttributes(Labels(plan), *segment_attributes)
                                                    : Labels(plan)}}},
          {"golden", {{"input_shape", input_shape}, {"tolerance", 1e-4}}}};
}

// A hidden folder beside OUT for the package under construction, removed unless Release()d.
class Staging {
 public:
  explicit Staging(const fs::path& out) {
    fs::create_directories(out.parent_path());
    std::string pattern = (out.parent_path() / ".medpipe_import_XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw IoError(out.parent_path().string(), "cannot hold a temporary folder");
    dir_ = pattern;
  }
  ~Staging() {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }
  Staging(const Staging&) = delete;
  Staging& operator=(const Staging&) = delete;
  const fs::path& Dir() const { return dir_; }

 private:
  fs::path dir_;
};

}  // namespace

int ImportCommand(const std::vector<std::string>& args) {
  po::options_description options("model import nnunet options");
  options.add_options()
      ("kind", po::value<std::string>()->required(), "nnunet")
      ("results", po::value<std::string>()->required(), "nnU-Net results DatasetXXX_Name/ or Trainer__Plans__configuration/ folder")
      ("out", po::value<std::string>()->required(), "the package folder to write (must not exist, or be empty)")
      ("configuration", po::value<std::string>(), "default: the trainer folder's, else 3d_fullres")
      ("folds", po::value<std::string>()->default_value("all"), "0,1,... or all (every fold_N)")
      ("checkpoint", po::value<std::string>()->default_value("final"), "final or best")
      ("name", po::value<std::string>(), "model name (default: the dataset's, e.g. Dataset501_Hippocampus)")
      ("dicom-voxel-order", po::value<std::string>()->default_value("dcm2niix"),
       "how the training images were converted from DICOM: dcm2niix or medpipe (`medpipe convert`)")
      ("postprocessing", po::value<std::string>()->default_value("auto"),
       "auto (the results folder's crossval_results_folds_*/postprocessing.json, if any), none, or a postprocessing.json")
      ("segment-attributes", po::value<std::string>(),
       "dcmqi metainfo JSON (segmentAttributes) giving each label's category, type and colour for SEG/RTSTRUCT");
  po::positional_options_description positional;
  positional.add("kind", 1).add("results", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, kUsage, options, positional, vm, exit_code)) return exit_code;
  if (vm["kind"].as<std::string>() != "nnunet")
    throw ConfigError("model import", "'" + vm["kind"].as<std::string>() + "' is not a format medpipe imports; expected nnunet");
  const std::string voxel_order = vm["dicom-voxel-order"].as<std::string>();
  if (voxel_order != "dcm2niix" && voxel_order != "medpipe")
    throw ConfigError("--dicom-voxel-order", "is '" + voxel_order + "'; expected dcm2niix or medpipe");
  const fs::path results = vm["results"].as<std::string>();
  const fs::path out = fs::absolute(vm["out"].as<std::string>()).lexically_normal();
  if (fs::exists(out) && (!fs::is_directory(out) || !fs::is_empty(out))) {
    std::cerr << "medpipe model import: " << out.string() << " exists and is not an empty folder\n";
    return kExitUsage;
  }
  std::optional<fs::path> segment_attributes;
  if (vm.count("segment-attributes")) {
    segment_attributes = fs::absolute(vm["segment-attributes"].as<std::string>());
    if (!fs::is_regular_file(*segment_attributes))
      throw ConfigError("--segment-attributes", segment_attributes->string() + " is not a file");
  }
  const fs::path script = ExporterScript();
  CheckExporter(script);

  Staging staging(out);
  const fs::path package = staging.Dir() / "package";
  std::vector<std::string> argv{kPython, script.string(), results.string(), "--out", package.string(), "--folds",
                                vm["folds"].as<std::string>(), "--checkpoint", vm["checkpoint"].as<std::string>(),
                                "--postprocessing", vm["postprocessing"].as<std::string>()};
  if (vm.count("configuration")) argv.insert(argv.end(), {"--configuration", vm["configuration"].as<std::string>()});
  const int exported = RunProgram(argv);
  if (exported != 0) return exported == kExitUsage ? kExitUsage : kExitCannotStart;  // its message is printed

  const json plan = ReadJson(package / "nnunet.json");
  const std::string name = vm.count("name") ? vm["name"].as<std::string>() : plan.at("dataset_name").get<std::string>();
  WriteFileAtomically(package / "manifest.json", NnunetManifest(package, DatasetJson(results, plan), name, voxel_order, segment_attributes).dump(2) + "\n");
  inference::SealModel(package);
  const model::Manifest manifest = model::LoadManifest(package);
  if (fs::exists(out)) fs::remove(out);
  fs::rename(package, out);
  std::cout << json({{"model", manifest.name},
                     {"version", manifest.version},
                     {"out", out.string()},
                     {"folds", FoldsText(plan)},
                     {"labels", manifest.labels.size()},
                     {"sha256", manifest.sha256},
                     {"sealed", true}})
            << "\n";
  return kExitOk;
}

}  // namespace medpipe::cli
