#include "stages/model_runner.h"

#include <algorithm>

#include "medpipe/core/error.h"
#include "medpipe/core/log.h"
#include "medpipe/core/stopwatch.h"
#include "medpipe/inference/device.h"
#include "medpipe/inference/explain.h"
#include "medpipe/inference/tensor_image.h"
#include "medpipe/model/decision.h"
#include "medpipe/preprocess/preprocess.h"
#include "stages/classify.h"
#include "stages/map_back.h"
#include "stages/measure.h"
#include "stages/overlays.h"
#include "stages/select_models.h"
#include "stages/write_masks.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

nlohmann::json ReportJson(const inference::PredictReport& report, const inference::LoadedModel& model) {
  nlohmann::json json = {{"timings_ms", {{"h2d", report.h2d_ms}, {"infer", report.infer_ms}, {"stitch", report.stitch_ms}}},
                         {"device", report.device},
                         {"precision", report.precision},
                         {"batch_size", report.batch_size},
                         {"patches", report.patches},
                         {"fallbacks", report.fallbacks}};
  if (!model.PrecisionNote().empty()) json["precision_note"] = model.PrecisionNote();
  return json;
}

std::vector<double> ProbabilitiesOf(const torch::Tensor& probabilities) {
  const auto values = probabilities.to(torch::kDouble).contiguous();
  return {values.data_ptr<double>(), values.data_ptr<double>() + values.numel()};
}

// ANALYSIS failed with ERROR: the sentence for people and the failure for programs.
void RecordFailure(Analysis& analysis, const std::exception& error) {
  analysis.outcome = Outcome::Failed;
  analysis.reason = error.what();
  analysis.failure = FailureOf(error);
}

// The class a classifier's heat map explains: the decided class (the evidence a reader weighs).
int64_t ExplainedClass(const model::Manifest& manifest, const std::vector<double>& probabilities) {
  return model::DecidedClass(manifest, model::Decide(manifest, probabilities));
}

// A heat map [H, W] as an image on its input's grid GRID.
Image3D::Pointer HeatmapImage(const torch::Tensor& heatmap, const Image3D& grid) {
  auto image = MakeImage(grid.GetLargestPossibleRegion().GetSize(), grid.GetSpacing(), grid.GetOrigin(), grid.GetDirection());
  const auto values = heatmap.contiguous();
  std::copy_n(values.data_ptr<float>(), values.numel(), image->GetBufferPointer());
  return image;
}

// A 4-D series is loaded as one volume, the one the first model's input.volume rule picked; a model
// whose rule picks none or another fails (select_models.h: ChooseVolume).
void CheckLoadedVolume(const SeriesContext& series, const model::Manifest& manifest) {
  if (!series.source || !series.source->series) return;
  const dicom::Series& source = *series.source->series;
  const size_t wanted = VolumeFor(source, manifest);
  if (wanted != series.source->volume)
    throw DicomError(source.files.front().path,
                     "model " + manifest.name + " reads volume " + std::to_string(wanted) + " (input.volume " +
                         model::VolumeRuleText(manifest.volume) + ") of series #" + std::to_string(source.series_number) +
                         ", but it was loaded as volume " + std::to_string(series.source->volume) +
                         " for a model before it in --model order: run the two models separately");
}

}  // namespace

ModelRunner::ModelRunner(RunSettings settings) : settings_(std::move(settings)) {
  if (!settings_.models.empty()) {
    const torch::Device device = inference::ParseDevice(settings_.device);
    for (const auto& directory : settings_.models) {
      groups_.push_back(IsModelGroup(directory) ? std::make_unique<ModelGroup>(directory, device) : nullptr);
      const auto& package = groups_.back() ? groups_.back()->FirstPart() : directory;
      models_.push_back(inference::LoadedModel::Load(package, device, settings_.precision));
      const auto& manifest = models_.back().Manifest();
      nnunet_.push_back(manifest.nnunet && !groups_.back() ? std::make_unique<NnunetModel>(manifest, device) : nullptr);
    }
  }
  if (settings_.outputs.features) CheckFeatures();
}

void ModelRunner::CheckFeatures() const {
  constexpr const char* kOption = "--output-types features";
  if (models_.empty()) throw ConfigError(kOption, "needs a --model whose model.pt has forward_features(x)");
  std::string without;
  for (const auto& model : models_)
    if (!model.HasFeatures())
      without += (without.empty() ? "'" : ", '") + model.Manifest().name + "' (" + model.Manifest().directory.string() + ")";
  if (without.empty()) return;
  const std::string reason = "no embedding from " + without + ": model.pt has no forward_features(x) method";
  if (std::none_of(models_.begin(), models_.end(), [](const auto& model) { return model.HasFeatures(); }))
    throw ConfigError(kOption, reason + "; give a model that has one, or leave features out");
  Log(LogLevel::Warning, std::string(kOption) + ": " + reason);
}

nlohmann::json ModelRunner::ModelsJson() const {
  nlohmann::json json = nlohmann::json::array();
  for (size_t index = 0; index < models_.size(); ++index) {
    const auto& model = models_[index];
    const auto& m = ManifestOf(index);
    json.push_back({{"name", m.name},
                    {"version", m.version},
                    {"task", model::TaskName(m.task)},
                    {"sha256", m.sha256},
                    {"device", model.Device().str()},
                    {"precision", inference::PrecisionName(model.ActivePrecision())}});
  }
  return json;
}

std::vector<model::Manifest> ModelRunner::Manifests() const {
  std::vector<model::Manifest> manifests;
  for (size_t m = 0; m < models_.size(); ++m) manifests.push_back(ManifestOf(m));
  return manifests;
}

nlohmann::json ModelRunner::SettingsJson() const {
  std::vector<ModelDigest> digests;
  for (size_t m = 0; m < models_.size(); ++m)
    digests.push_back({ManifestOf(m).name, ManifestOf(m).sha256, inference::PrecisionName(models_[m].ActivePrecision())});
  return cli::SettingsJson(settings_, digests);
}

std::vector<ModelJob> ModelRunner::Prepare(const SeriesContext& series) {
  std::vector<ModelJob> jobs;
  for (size_t m = 0; m < models_.size(); ++m) {
    auto& model = models_[m];
    const auto& manifest = ManifestOf(m);
    ModelJob job;
    job.model = &model;
    job.analysis.model = manifest.name;
    job.analysis.version = manifest.version;
    job.analysis.task = model::TaskName(manifest.task);
    const std::string mismatch = WhyModelSkips(manifest, ShapeOf(series));
    if (!mismatch.empty()) {
      job.analysis.outcome = Outcome::Skipped;
      job.analysis.reason = mismatch;
    } else {
      try {
        Stopwatch stopwatch;
        CheckLoadedVolume(series, manifest);
        if (groups_[m]) {
          job.group = groups_[m]->Prepare(series);
        } else if (nnunet_[m]) {
          job.nnunet = nnunet_[m]->Prepare(series);
        } else {
          job.prepared = preprocess::Prepare(series.volume, preprocess::SpecFor(manifest));
        }
        job.analysis.json["timings_ms"]["resample"] = stopwatch.Lap();
      } catch (const std::exception& error) {
        RecordFailure(job.analysis, error);
      }
    }
    jobs.push_back(std::move(job));
  }
  return jobs;
}

void ModelRunner::Infer(ModelJob& job) const {
  if (!Pending(job)) return;
  try {
    if (job.nnunet || job.group) return InferNnunet(job);
    inference::PredictReport report;
    const auto input = inference::VolumeToTensor(*job.prepared);
    const torch::Tensor output = inference::Predict(*job.model, input, settings_.predict, report);
    job.analysis.json.merge_patch(ReportJson(report, *job.model));
    job.analysis.fallbacks = report.fallbacks;
    const auto& manifest = job.model->Manifest();
    if (manifest.task == model::Task::Segmentation) {
      job.label_map = inference::TensorToLabelImage(output, job.prepared->Grid());
    } else {
      job.probabilities = ProbabilitiesOf(output);
    }
    if (settings_.outputs.features && job.model->HasFeatures()) {
      Stopwatch clock;
      const auto embedding = inference::Embed(*job.model, input).contiguous();
      job.analysis.json["embedding"] =
          std::vector<float>(embedding.data_ptr<float>(), embedding.data_ptr<float>() + embedding.numel());
      job.analysis.json["timings_ms"]["embed"] = clock.Lap();
    }
    if (manifest.task == model::Task::Classification && manifest.spatial_dims == 2) {
      Stopwatch clock;
      const int64_t explained = ExplainedClass(manifest, job.probabilities);
      const auto explanation = inference::Explain(*job.model, input, explained);
      job.heatmap = HeatmapImage(explanation.heatmap, job.prepared->Grid());
      job.analysis.json["explanation"] = {{"method", explanation.method}, {"class", manifest.labels[explained].name}};
      job.analysis.json["timings_ms"]["explain"] = clock.Lap();
    }
  } catch (const std::exception& error) {
    RecordFailure(job.analysis, error);
    job.prepared.reset();
    job.nnunet.reset();
    job.group.reset();
  }
}

void ModelRunner::InferNnunet(ModelJob& job) const {
  Stopwatch stopwatch;
  const size_t m = IndexOf(job);
  nlohmann::json report;
  if (job.group) {
    groups_[m]->Infer(*job.group, settings_.predict.batch_size, report);
  } else {
    nnunet_[m]->Infer(*job.nnunet, settings_.predict.batch_size, report);
  }
  job.analysis.json.merge_patch(report);
  job.analysis.json["timings_ms"]["infer"] = stopwatch.Lap();
}

SeriesAnalysis ModelRunner::Finish(const SeriesContext& series, std::vector<ModelJob>& jobs) const {
  SeriesAnalysis analysis;
  for (auto& job : jobs) {
    if (job.analysis.outcome == Outcome::Failed) ++analysis.failures;
    if (Pending(job)) {
      try {
        if (ManifestOf(IndexOf(job)).task == model::Task::Segmentation) {
          FinishSegmentation(series, job, analysis);
        } else {
          FinishClassification(series, job, analysis);
        }
      } catch (const std::exception& error) {
        ++analysis.failures;
        RecordFailure(job.analysis, error);
      }
    }
    analysis.analyses.push_back(job.analysis);
  }
  return analysis;
}

void ModelRunner::FinishSegmentation(const SeriesContext& series, ModelJob& job, SeriesAnalysis& analysis) const {
  const size_t m = IndexOf(job);
  const auto& manifest = ManifestOf(m);
  Analysis& result = job.analysis;
  Stopwatch stopwatch;
  const auto labels = job.group    ? CleanedLabels(manifest, groups_[m]->Finish(*job.group, series.volume.Grid()))
                      : job.nnunet ? CleanedLabels(manifest, nnunet_[m]->Finish(*job.nnunet, series.volume.Grid()))
                                   : LabelsOnSourceGrid(manifest, *job.label_map, series.volume.Grid());
  result.labels = MeasureLabels(*labels, manifest, series);
  result.json["timings_ms"]["post"] = stopwatch.Lap();
  MaskFiles files = WriteMasks(*labels, manifest, series, result.labels, settings_.outputs);
  if (files.seg) analysis.segmentations.push_back(std::move(*files.seg));
  result.outputs = files.outputs;
  result.outputs["overlay"] = WriteSegmentationOverlay(series, manifest, *labels, result.labels);
  result.json["timings_ms"]["write"] = stopwatch.Lap();
}

void ModelRunner::FinishClassification(const SeriesContext& series, ModelJob& job, SeriesAnalysis& analysis) const {
  const auto& manifest = job.model->Manifest();
  Analysis& result = job.analysis;
  Stopwatch stopwatch;
  Classification classification = Classify(manifest, job.probabilities, series);
  result.json["probabilities"] = classification.probabilities;
  result.decision = classification.decision;
  analysis.findings.push_back(classification.finding);
  if (classification.sr) analysis.classifications.push_back(std::move(*classification.sr));
  if (job.heatmap) {
    const auto heatmap = HeatmapOnSourceGrid(*job.heatmap, series.volume.Grid());
    result.outputs["heatmap"] = WriteHeatmap(series, manifest, *heatmap);
    result.outputs["heatmap_review"] = WriteHeatmapReview(series, manifest, *heatmap);
    if (!analysis.heatmap) analysis.heatmap = heatmap;
  }
  result.json["timings_ms"]["post"] = stopwatch.Lap();
}

}  // namespace medpipe::cli
