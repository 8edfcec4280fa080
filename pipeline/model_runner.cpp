#include "model_runner.h"

#include "medpipe/core/error.h"
#include "medpipe/inference/device.h"
#include "medpipe/inference/tensor_image.h"
#include "medpipe/postprocess/postprocess.h"
#include "medpipe/preprocess/preprocess.h"
#include "medpipe/volume_io/nifti_io.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

// Why MODEL cannot read VOLUME, or empty when it can.
std::string Mismatch(const model::Manifest& manifest, const Volume& volume, const std::string& modality) {
  const std::string& wanted = manifest.channels.front().modality;
  if (!modality.empty() && modality != wanted) return "model reads " + wanted + ", series is " + modality;
  if (volume.channels.size() != manifest.channels.size())
    return "model reads " + std::to_string(manifest.channels.size()) + " channel(s), series has " +
           std::to_string(volume.channels.size());
  const bool single_image = volume.Grid().GetLargestPossibleRegion().GetSize()[2] == 1;
  if (manifest.spatial_dims == 3 && single_image) return "3-D model, series is a single image";
  if (manifest.spatial_dims == 2 && manifest.task == model::Task::Classification && !single_image)
    return "2-D classifier, series is a volume";
  return "";
}

nlohmann::json ReportJson(const inference::PredictReport& report, const inference::LoadedModel& model) {
  nlohmann::json json = {{"device", report.device},
                         {"precision", report.precision},
                         {"batch_size", report.batch_size},
                         {"patches", report.patches},
                         {"inference_ms", report.milliseconds},
                         {"fallbacks", report.fallbacks}};
  if (!model.PrecisionNote().empty()) json["precision_note"] = model.PrecisionNote();
  return json;
}

nlohmann::json Segment(inference::LoadedModel& model, const Volume& volume, const inference::PredictOptions& options,
                       const fs::path& mask_path) {
  const auto& manifest = model.Manifest();
  const Volume prepared = preprocess::Prepare(volume, preprocess::SpecFor(manifest));
  inference::PredictReport report;
  const auto probabilities = inference::Predict(model, inference::VolumeToTensor(prepared), options, report);
  std::vector<Image3D::Pointer> on_source_grid;
  for (const auto& channel : inference::TensorToImages(probabilities, prepared.Grid()))
    on_source_grid.push_back(preprocess::MapBack(*channel, volume.Grid()));
  auto labels = postprocess::ToLabels(on_source_grid, manifest.activation, manifest.labels);
  postprocess::Clean(*labels, manifest.postprocessing, manifest.labels);
  WriteLabelNifti(*labels, mask_path);

  nlohmann::json json = ReportJson(report, model);
  json["mask"] = mask_path.filename().string();
  json["labels"] = nlohmann::json::array();
  for (const auto& measure : postprocess::Measure(*labels, manifest.labels))
    json["labels"].push_back({{"value", measure.value},
                              {"name", measure.name},
                              {"voxels", measure.voxels},
                              {"volume_ml", measure.volume_ml},
                              {"components", measure.components}});
  return json;
}

nlohmann::json Classify(inference::LoadedModel& model, const Volume& volume, const inference::PredictOptions& options) {
  const auto& manifest = model.Manifest();
  const Volume prepared = preprocess::Prepare(volume, preprocess::SpecFor(manifest));
  inference::PredictReport report;
  const auto probabilities = inference::Predict(model, inference::VolumeToTensor(prepared), options, report);
  nlohmann::json json = ReportJson(report, model);
  json["probabilities"] = nlohmann::json::object();
  for (const auto& label : manifest.labels) json["probabilities"][label.name] = probabilities[label.value].item<double>();
  json["predicted"] = manifest.labels[probabilities.argmax().item<int64_t>()].name;
  return json;
}

}  // namespace

void AddModelOptions(po::options_description& options) {
  options.add_options()
      ("model", po::value<std::vector<std::string>>()->composing(), "model package folder (models/<name>); repeatable")
      ("device", po::value<std::string>()->default_value("auto"), "auto, cpu, cuda or cuda:N")
      ("precision", po::value<std::string>()->default_value("fp32"), "fp32, or fp16/bf16 on CUDA (checked against fp32 at load)")
      ("batch-size", po::value<int64_t>()->default_value(2), "patches per forward pass")
      ("overlap", po::value<double>()->default_value(0.5), "sliding-window overlap between patches, 0 to <1")
      ("tta", po::bool_switch(), "mirroring test-time augmentation along the manifest's mirror_axes");
}

ModelRunner::ModelRunner(const po::variables_map& vm) {
  options_.batch_size = vm["batch-size"].as<int64_t>();
  options_.overlap = vm["overlap"].as<double>();
  options_.mirror = vm["tta"].as<bool>();
  if (options_.batch_size < 1) throw ConfigError("--batch-size", "must be at least 1");
  if (!(options_.overlap >= 0 && options_.overlap < 1)) throw ConfigError("--overlap", "must be at least 0 and below 1");
  if (!vm.count("model")) return;
  const torch::Device device = inference::ParseDevice(vm["device"].as<std::string>());
  const auto precision = inference::ParsePrecision(vm["precision"].as<std::string>());
  for (const auto& directory : vm["model"].as<std::vector<std::string>>())
    models_.push_back(inference::LoadedModel::Load(directory, device, precision));
}

nlohmann::json ModelRunner::ModelsJson() const {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& model : models_) {
    const auto& m = model.Manifest();
    json.push_back({{"name", m.name},
                    {"version", m.version},
                    {"task", model::TaskName(m.task)},
                    {"sha256", m.sha256},
                    {"device", model.Device().str()},
                    {"precision", inference::PrecisionName(model.ActivePrecision())}});
  }
  return json;
}

nlohmann::json ModelRunner::Analyse(const Volume& volume, const std::string& modality, const fs::path& folder,
                                    const std::string& stem, size_t& failures) {
  nlohmann::json analyses = nlohmann::json::array();
  for (auto& model : models_) {
    const auto& manifest = model.Manifest();
    nlohmann::json entry = {{"model", manifest.name}, {"version", manifest.version}, {"task", model::TaskName(manifest.task)}};
    const std::string mismatch = Mismatch(manifest, volume, modality);
    try {
      if (!mismatch.empty()) {
        entry["skipped"] = mismatch;
      } else if (manifest.task == model::Task::Segmentation) {
        entry.update(Segment(model, volume, options_, folder / (stem + "_" + manifest.name + ".nii.gz")));
      } else {
        entry.update(Classify(model, volume, options_));
      }
    } catch (const std::exception& error) {
      ++failures;
      entry["error"] = error.what();
    }
    analyses.push_back(entry);
  }
  return analyses;
}

}  // namespace medpipe::cli
