#pragma once
// What `run` decides about a study's outputs, made once from the command line and checked there (before
// any study is read): the models and how they run, the output files, de-identification and tilt
// refusal. Plain values: no LibTorch, so the supervisor holds them as well as the worker.
#include <filesystem>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "medpipe/inference/settings.h"

namespace medpipe::cli {

// Which files a segmentation produces besides its numbers (--output-types).
struct OutputTypes {
  bool nifti = true, seg = true, sr = true, rtstruct = false;
  bool features = false;  // embeddings of models with forward_features (README: Embeddings)
};
OutputTypes ParseOutputTypes(const std::string& list);

struct RunSettings {
  std::vector<std::filesystem::path> models;  // --model, in order
  std::string device = "auto";                // --device; parsed by the worker, which owns the device
  inference::Precision precision = inference::Precision::Fp32;
  inference::PredictOptions predict;          // --batch-size, --overlap, --tta
  OutputTypes outputs;
  bool deidentify = false;
  bool refuse_gantry_tilt = false;
};

// --model, --device, --precision, --batch-size, --overlap, --tta, --output-types, --deidentify.
void AddModelOptions(boost::program_options::options_description& options);

// The settings of VM (which also holds --refuse-gantry-tilt), every value checked and every model's
// manifest read (not its weights); throws ConfigError or ModelError naming the option or file.
RunSettings RunSettingsOf(const boost::program_options::variables_map& vm);

// What decides a study's outputs besides its input files, whose digest is result.json's
// settings_sha256 (resume.h): each model's name, sha256 and the precision it runs in (MODELS, from
// the loaded models: fp16 may fall back to fp32), overlap, tta, output types, de-identification and
// tilt refusal; not the device or the batch size, which leave the outputs as they are. Every field of
// RunSettings is named in its definition, so a new one does not compile until it is placed.
struct ModelDigest {
  std::string name, sha256, precision;
};
nlohmann::json SettingsJson(const RunSettings& settings, const std::vector<ModelDigest>& models);

}  // namespace medpipe::cli
