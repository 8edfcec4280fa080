#include "cli/totalseg_import.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/archive_walk.h"
#include "cli/commands.h"
#include "cli/nnunet_import.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/model/manifest.h"
#include "stages/model_group.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
using nlohmann::json;

namespace medpipe::cli {
namespace {

constexpr char kUsage[] =
    "usage: medpipe model import totalsegmentator WEIGHTS_DIR --out models/NAME [--task total|total_fast|total_fastest] "
    "[--parts ID,ID,...] [--name NAME]";

// A TotalSegmentator task run as nnU-Net parts, as its python_api.py sets it up (folds [0], 3d_fullres).
struct TotalSegmentatorTask {
  std::vector<int> datasets;  // nnU-Net dataset ids, in TotalSegmentator's order (later parts win)
  std::string trainer;
  double resample_mm = 1.5;
  double tile_step_size = 0.5;  // nnunet.py: 0.8 for task total below 3 mm
  std::string license;
};

const std::map<std::string, TotalSegmentatorTask>& Tasks() {
  static const std::map<std::string, TotalSegmentatorTask> tasks{
      {"total", {{291, 292, 293, 294, 295}, "nnUNetTrainerNoMirroring", 1.5, 0.8, "Apache-2.0"}},
      {"total_fast", {{297}, "nnUNetTrainer_4000epochs_NoMirroring", 3.0, 0.5, "Apache-2.0"}},
      {"total_fastest", {{298}, "nnUNetTrainer_4000epochs_NoMirroring", 6.0, 0.5, "Apache-2.0"}},
  };
  return tasks;
}

std::vector<int> ParseIds(const std::string& text) {
  std::vector<int> ids;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) {
    try {
      size_t used = 0;
      ids.push_back(std::stoi(item, &used));
      if (used != item.size() || ids.back() < 1) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError("--parts", "'" + text + "' is not a comma list of nnU-Net dataset ids (e.g. 291,292)");
    }
  }
  if (ids.empty()) throw ConfigError("--parts", "is empty");
  return ids;
}

// WEIGHTS/DatasetNNN_*/TRAINER__nnUNetPlans__3d_fullres with fold_0's checkpoint, or why not.
fs::path PartFolder(const fs::path& weights, int id, const std::string& trainer, std::string& missing) {
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "Dataset%03d_", id);
  fs::path dataset;
  for (const auto& entry : fs::directory_iterator(weights))
    if (entry.is_directory() && entry.path().filename().string().rfind(prefix, 0) == 0) dataset = entry.path();
  if (dataset.empty()) {
    missing = std::string(prefix) + "* (no such folder in " + weights.string() + ")";
    return {};
  }
  const fs::path folder = dataset / (trainer + "__nnUNetPlans__3d_fullres");
  const fs::path checkpoint = folder / "fold_0" / "checkpoint_final.pth";
  if (!fs::is_regular_file(checkpoint)) missing = checkpoint.string() + " (missing)";
  return folder;
}

// configs/totalsegmentator/class_maps.json of this source tree: TotalSegmentator's class maps and codes, as
// scripts/totalseg_class_maps.py extracted them from its map_to_binary.py and SNOMED CT mapping.
class TotalSegmentatorClassMaps {
 public:
  TotalSegmentatorClassMaps() : file_(MEDPIPE_TOTALSEG_CLASS_MAPS) {
    try {
      root_ = json::parse(ReadFile(file_));
    } catch (const json::exception& error) {
      throw ModelError(file_.string(), std::string("is not valid JSON: ") + error.what());
    }
    for (const auto& [value, name] : root_.at("class_map_total").items()) group_value_[name.get<std::string>()] = std::stoi(value);
  }

  // TotalSegmentator's map (part value -> class name) of dataset ID in TASK, if it has one.
  std::optional<std::map<int, std::string>> PartLabels(const std::string& task, int id) const {
    const json& parts = root_.at("tasks").at(task).at("parts");
    if (!parts.contains(std::to_string(id))) return std::nullopt;
    std::map<int, std::string> labels;
    for (const auto& [value, name] : parts.at(std::to_string(id)).at("labels").items()) labels[std::stoi(value)] = name;
    return labels;
  }
  // Where PartLabels comes from, for messages: e.g. class_map_5_parts['class_map_part_organs'].
  std::string PartSource(const std::string& task, int id) const {
    const json& part = root_.at("tasks").at(task).at("parts").at(std::to_string(id));
    return part.contains("class_map_5_parts") ? "class_map_5_parts['" + part.at("class_map_5_parts").get<std::string>() + "']"
                                              : std::string("class_map['total']");
  }
  // The class's value in class_map["total"], TotalSegmentator's output value.
  int GroupValue(const std::string& name) const { return group_value_.at(name); }
  // dcmqi's metainfo for LABELS (value -> class name): TotalSegmentator's codes and colour for each.
  json SegmentAttributes(const std::map<int, std::string>& labels) const {
    json items = json::array();
    for (const auto& [value, name] : labels) {
      json item = root_.at("segment_attributes").at(name);
      item["labelID"] = value;
      item["SegmentLabel"] = name;
      items.push_back(item);
    }
    return {{"segmentAttributes", json::array({items})}};
  }
  json Source() const { return root_.at("source"); }
  const fs::path& File() const { return file_; }

 private:
  fs::path file_;
  json root_;
  std::map<std::string, int> group_value_;
};

// dataset.json's labels (value -> name) of a part's trainer FOLDER, background left out.
std::map<int, std::string> DatasetLabels(const fs::path& folder) {
  const fs::path file = folder / "dataset.json";
  json dataset;
  try {
    dataset = json::parse(ReadFile(file));
  } catch (const json::exception& error) {
    throw ModelError(file.string(), std::string("is not valid JSON: ") + error.what());
  }
  std::map<int, std::string> labels;
  const json table = dataset.value("labels", json::object());
  for (const auto& [name, value] : table.items()) {
    if (!value.is_number_integer())
      throw ModelError(file.string(), "label '" + name + "' is a region (" + value.dump() + "); TotalSegmentator's parts are softmax models");
    if (value != 0) labels[value.get<int>()] = name;
  }
  return labels;
}

// Every label of the part's dataset.json against TotalSegmentator's map of that part, one line per difference.
std::string LabelMismatches(const std::map<int, std::string>& dataset, const std::map<int, std::string>& expected,
                            const std::string& source) {
  std::string lines;
  for (const auto& [value, name] : dataset) {
    const auto found = expected.find(value);
    if (found == expected.end())
      lines += "\n    label " + std::to_string(value) + " is '" + name + "'; TotalSegmentator's " + source + " has no label " +
               std::to_string(value);
    else if (found->second != name)
      lines += "\n    label " + std::to_string(value) + " is '" + name + "'; TotalSegmentator's " + source + " calls it '" +
               found->second + "'";
  }
  return lines;
}

// Part value -> group value for each part. Checked parts: TotalSegmentator's class_map["total"] value of each name.
// Other groups: the parts' labels in part order, one value per name (a name met again keeps its value, so the later
// part overwrites it).
json GroupParts(const fs::path& group, const std::vector<fs::path>& packages, const TotalSegmentatorClassMaps* class_maps) {
  json parts = json::array();
  std::map<std::string, int> value_of;
  for (const auto& package : packages) {
    json class_map = json::object();
    for (const auto& label : model::LoadManifest(package).labels) {
      const int value = class_maps ? class_maps->GroupValue(label.name)
                                   : value_of.emplace(label.name, static_cast<int>(value_of.size()) + 1).first->second;
      if (value > 255) throw ModelError(package.string(), "brings the group past 255 labels");
      class_map[std::to_string(label.value)] = value;
    }
    parts.push_back({{"package", fs::relative(package, group).string()}, {"class_map", class_map}});
  }
  return parts;
}

}  // namespace

int TotalSegmentatorImportCommand(const std::vector<std::string>& args) {
  po::options_description options("model import totalsegmentator options");
  options.add_options()
      ("kind", po::value<std::string>()->required(), "totalsegmentator")
      ("weights", po::value<std::string>()->required(), "TotalSegmentator's nnU-Net results folder "
       "(~/.totalsegmentator/nnunet/results), holding DatasetNNN_* folders")
      ("out", po::value<std::string>()->required(), "the group folder to write (must not exist, or be empty)")
      ("task", po::value<std::string>()->default_value("total"), "total (5 parts, 1.5 mm), total_fast (3 mm) or total_fastest (6 mm)")
      ("parts", po::value<std::string>(), "dataset ids to group instead of the task's, in merge order (e.g. 291,292)")
      ("name", po::value<std::string>(), "group name (default: the task's)");
  po::positional_options_description positional;
  positional.add("kind", 1).add("weights", 1);
  po::variables_map vm;
  int exit_code = kExitOk;
  if (!ParseCommandLine(args, kUsage, options, positional, vm, exit_code)) return exit_code;
  const std::string task_name = vm["task"].as<std::string>();
  const auto found = Tasks().find(task_name);
  if (found == Tasks().end())
    throw ConfigError("--task", "is '" + task_name + "'; expected total, total_fast or total_fastest (other TotalSegmentator tasks "
                                "crop to organs or post-process first, which medpipe does not reproduce yet)");
  const TotalSegmentatorTask& task = found->second;
  const std::vector<int> ids = vm.count("parts") ? ParseIds(vm["parts"].as<std::string>()) : task.datasets;
  const fs::path weights = vm["weights"].as<std::string>();
  if (!fs::is_directory(weights)) throw ConfigError("WEIGHTS_DIR", weights.string() + " is not a folder");
  const fs::path out = fs::absolute(vm["out"].as<std::string>()).lexically_normal();
  if (fs::exists(out) && (!fs::is_directory(out) || !fs::is_empty(out))) {
    std::cerr << "medpipe model import: " << out.string() << " exists and is not an empty folder\n";
    return kExitUsage;
  }

  // The task's own parts are checked against TotalSegmentator's maps and numbered as its class_map["total"]; a
  // --parts list of other datasets is grouped by name, unchecked.
  const TotalSegmentatorClassMaps class_maps;
  std::vector<std::optional<std::map<int, std::string>>> expected_labels;
  for (int id : ids) expected_labels.push_back(class_maps.PartLabels(task_name, id));
  const auto known = std::count_if(expected_labels.begin(), expected_labels.end(), [](const auto& labels) { return labels.has_value(); });
  if (known != 0 && static_cast<size_t>(known) != ids.size())
    throw ConfigError("--parts", "mixes datasets of TotalSegmentator's task " + task_name +
                                     " with others; their label values would collide (group the task's parts, or only others)");
  const bool checked = known != 0;

  std::vector<fs::path> folders;
  std::string missing_parts;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::string missing;
    folders.push_back(PartFolder(weights, ids[i], task.trainer, missing));
    if (!missing.empty())
      missing_parts += "\n  part " + std::to_string(i + 1) + " of " + std::to_string(ids.size()) + ": " + missing;
  }
  if (!missing_parts.empty()) {
    std::cerr << "medpipe model import totalsegmentator: task " << task_name << " needs " << ids.size()
              << " nnU-Net parts (" << task.trainer << ", 3d_fullres, fold 0); missing:" << missing_parts
              << "\n(download them with TotalSegmentator, e.g. totalseg_download_weights -t " << task_name << ")\n";
    return kExitUsage;
  }

  std::string mismatches;
  for (size_t i = 0; checked && i < ids.size(); ++i) {
    const std::string lines = LabelMismatches(DatasetLabels(folders[i]), *expected_labels[i], class_maps.PartSource(task_name, ids[i]));
    if (!lines.empty())
      mismatches += "\n  part " + std::to_string(i + 1) + " of " + std::to_string(ids.size()) + ", " +
                    (folders[i] / "dataset.json").string() + ":" + lines;
  }
  if (!mismatches.empty()) {
    std::cerr << "medpipe model import totalsegmentator: task " << task_name << ": the parts' dataset.json labels differ from "
              << "TotalSegmentator's class maps (" << class_maps.File().string() << "), by which TotalSegmentator numbers and "
              << "names their output:" << mismatches << "\n(weights of another TotalSegmentator version? nothing was written)\n";
    return kExitUsage;
  }

  const fs::path staging = out.parent_path() / ("." + out.filename().string() + ".importing");
  fs::remove_all(staging);
  try {
    std::vector<fs::path> packages;
    for (const auto& folder : folders) {
      const std::string part = folder.parent_path().filename().string();
      packages.push_back(staging / "parts" / part);
      std::vector<std::string> import{"nnunet", folder.string(), "--out", packages.back().string(), "--folds", "0"};
      if (checked) {
        // TotalSegmentator's codes reach each label as `--segment-attributes` gives them to an nnU-Net import.
        const fs::path attributes = staging / "segment_attributes" / (part + ".json");
        fs::create_directories(attributes.parent_path());
        WriteFileAtomically(attributes, class_maps.SegmentAttributes(DatasetLabels(folder)).dump(2) + "\n");
        import.insert(import.end(), {"--segment-attributes", attributes.string()});
      }
      const int imported = ImportCommand(import);
      if (imported != kExitOk) {
        fs::remove_all(staging);
        return imported;  // the nnU-Net importer has said why
      }
    }
    json group = {
        {"name", vm.count("name") ? vm["name"].as<std::string>() : task_name},
        {"version", "totalsegmentator-" + task_name + "-fold-0"},
        {"description", "TotalSegmentator task " + task_name + ": " + std::to_string(ids.size()) +
                            " nnU-Net part(s) merged in order; imported by `medpipe model import totalsegmentator`"},
        {"license", task.license + " (TotalSegmentator's weights; see github.com/wasserth/TotalSegmentator)"},
        {"training_data", "TotalSegmentator (Wasserthal et al., Radiology: Artificial Intelligence 2023)"},
        {"totalsegmentator", {{"task", task_name}, {"resample_mm", task.resample_mm}, {"tile_step_size", task.tile_step_size}}},
        {"parts", GroupParts(staging, packages, checked ? &class_maps : nullptr)}};
    if (checked) group["totalsegmentator"]["class_maps"] = class_maps.Source();
    WriteFileAtomically(staging / kModelGroupFile, group.dump(2) + "\n");
    const ModelGroupSpec spec = ReadModelGroup(staging);
    if (fs::exists(out)) fs::remove(out);
    fs::rename(staging, out);
    std::cout << json({{"group", spec.name}, {"task", task_name}, {"out", out.string()}, {"parts", ids}}) << "\n";
    return kExitOk;
  } catch (...) {
    fs::remove_all(staging);
    throw;
  }
}

}  // namespace medpipe::cli
