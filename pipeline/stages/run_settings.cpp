#include "stages/run_settings.h"

#include <sstream>

#include "medpipe/core/error.h"
#include "medpipe/model/manifest.h"
#include "stages/model_group.h"

namespace po = boost::program_options;

namespace medpipe::cli {

OutputTypes ParseOutputTypes(const std::string& list) {
  OutputTypes types{false, false, false, false, false};
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    if (item == "nifti") types.nifti = true;
    else if (item == "seg") types.seg = true;
    else if (item == "sr") types.sr = true;
    else if (item == "rtstruct") types.rtstruct = true;
    else if (item == "features") types.features = true;
    else throw ConfigError("--output-types", "is '" + item + "'; expected one of nifti, seg, sr, rtstruct, features");
  }
  return types;
}

void AddModelOptions(po::options_description& options) {
  options.add_options()
      ("model", po::value<std::vector<std::string>>()->composing(), "model package folder (models/<name>); repeatable")
      ("device", po::value<std::string>()->default_value("auto"), "auto, cpu, cuda or cuda:N")
      ("precision", po::value<std::string>()->default_value("fp32"), "fp32, fp16 (CUDA), bf16 (CUDA, CPUs with AVX-512 BF16 or AMX) or auto (the fastest reduced precision of the device); checked against fp32 at load")
      ("batch-size", po::value<int64_t>()->default_value(2), "patches per forward pass")
      ("overlap", po::value<double>()->default_value(0.5), "sliding-window overlap between patches, 0 to <1")
      ("tta", po::bool_switch(), "mirroring test-time augmentation along the manifest's mirror_axes")
      ("output-types", po::value<std::string>()->default_value("nifti,seg,sr"),
       "segmentation outputs, comma-separated: nifti, seg, sr, rtstruct (DICOM ones for DICOM input)")
      ("deidentify", po::bool_switch(),
       "write SEG, SR, RTSTRUCT and result.json after DICOM PS3.15's basic profile: no patient identifiers, new UIDs");
}

RunSettings RunSettingsOf(const po::variables_map& vm) {
  RunSettings settings;
  if (vm.count("model"))
    for (const auto& directory : vm["model"].as<std::vector<std::string>>()) settings.models.emplace_back(directory);
  settings.device = vm["device"].as<std::string>();
  settings.precision = inference::ParsePrecision(vm["precision"].as<std::string>());
  settings.predict = {vm["overlap"].as<double>(), vm["batch-size"].as<int64_t>(), vm["tta"].as<bool>()};
  inference::CheckPredictOptions(settings.predict);  // before any study, not at the first patch
  settings.outputs = ParseOutputTypes(vm["output-types"].as<std::string>());
  settings.deidentify = vm["deidentify"].as<bool>();
  settings.refuse_gantry_tilt = vm["refuse-gantry-tilt"].as<bool>();
  for (const auto& directory : settings.models) {  // a bad manifest stops the run now
    if (IsModelGroup(directory)) {
      ReadModelGroup(directory);
    } else {
      model::LoadManifest(directory);
    }
  }
  return settings;
}

nlohmann::json SettingsJson(const RunSettings& settings, const std::vector<ModelDigest>& models) {
  // Every field, named: a field added to RunSettings stops this from compiling until it is placed.
  const auto& [directories, device, precision, predict, outputs, deidentify, refuse_gantry_tilt] = settings;
  (void)directories, (void)device, (void)precision;  // the models' own digests stand for them; the device changes nothing
  nlohmann::json digests = nlohmann::json::array();
  for (const ModelDigest& model : models)
    digests.push_back({{"name", model.name}, {"sha256", model.sha256}, {"precision", model.precision}});
  nlohmann::json json = {
      {"models", digests},
      {"overlap", predict.overlap},  // the batch size leaves outputs as they are
      {"tta", predict.mirror},
      {"outputs", {{"nifti", outputs.nifti}, {"seg", outputs.seg}, {"sr", outputs.sr}, {"rtstruct", outputs.rtstruct}}},
      {"deidentify", deidentify}};
  // Later settings only when on, so that results written before they existed keep their digest.
  if (outputs.features) json["outputs"]["features"] = true;
  if (refuse_gantry_tilt) json["refuse_gantry_tilt"] = true;
  return json;
}

}  // namespace medpipe::cli
