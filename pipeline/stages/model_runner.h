#pragma once
// The models of a run, applied to each loaded series in three steps that the batch runner overlaps
// across studies: Prepare (select the models that read the series, preprocess; CPU), Infer (the device;
// the only step that sees LibTorch tensors), Finish (the stages in pipeline/stages/: map back,
// measure, write masks, classify, overlays; CPU).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/core/volume.h"
#include "medpipe/inference/model.h"
#include "medpipe/inference/predictor.h"
#include "stages/model_group.h"
#include "stages/nnunet_model.h"
#include "stages/run_settings.h"
#include "stages/series_work.h"

namespace medpipe::cli {

// One model applied to one series as it moves through the steps.
struct ModelJob {
  inference::LoadedModel* model = nullptr;
  Analysis analysis;               // result.json's analysis entry, filled step by step
  std::optional<Volume> prepared;  // model-space input; empty when the model skips the series or a step failed
  std::shared_ptr<NnunetJob> nnunet;  // instead of PREPARED for a model imported from nnU-Net
  std::shared_ptr<GroupJob> group;    // instead of PREPARED for a model group (TotalSegmentator)
  // Infer's, on the prepared grid: the label map (segmentation), or class probabilities and, for 2-D
  // classifiers, the explanation.
  LabelImage::Pointer label_map;
  std::vector<double> probabilities;
  Image3D::Pointer heatmap;
};

class ModelRunner {
 public:
  // Loads and checks every model of SETTINGS before any study is touched; a bad model throws
  // ModelError, features asked of models without forward_features ConfigError.
  explicit ModelRunner(RunSettings settings);

  // One job per model: preprocessed, or with the reason the model skips SERIES or the error.
  std::vector<ModelJob> Prepare(const SeriesContext& series);
  // Runs the model on the prepared input; only one thread calls it (the device's).
  void Infer(ModelJob& job) const;
  // Turns the jobs' outputs into labels on the source grid, measures, files and findings.
  SeriesAnalysis Finish(const SeriesContext& series, std::vector<ModelJob>& jobs) const;
  nlohmann::json ModelsJson() const;
  // The loaded models' manifests, in --model order.
  std::vector<model::Manifest> Manifests() const;
  // What decides a study's outputs (run_settings.h: SettingsJson) with the models as loaded.
  nlohmann::json SettingsJson() const;
  const OutputTypes& Outputs() const { return settings_.outputs; }

 private:
  // Embeddings come from forward_features: features asked of models that have none is refused
  // (ConfigError), and a model without it beside one with it is named in a warning.
  void CheckFeatures() const;
  // Infer for a model imported from nnU-Net: its own sliding window (nnunet_model.h).
  void InferNnunet(ModelJob& job) const;
  // Finish's two kinds of model, each filling JOB's analysis and adding its files and findings to ANALYSIS.
  void FinishSegmentation(const SeriesContext& series, ModelJob& job, SeriesAnalysis& analysis) const;
  void FinishClassification(const SeriesContext& series, ModelJob& job, SeriesAnalysis& analysis) const;

  // Whether JOB has an input (or Infer's output) to go on with.
  static bool Pending(const ModelJob& job) { return job.prepared || job.nnunet || job.group; }
  // The manifest of model M: a group's own, else its package's.
  const model::Manifest& ManifestOf(size_t m) const { return groups_[m] ? groups_[m]->Manifest() : models_[m].Manifest(); }
  size_t IndexOf(const ModelJob& job) const { return static_cast<size_t>(job.model - models_.data()); }

  RunSettings settings_;
  std::vector<inference::LoadedModel> models_;
  std::vector<std::unique_ptr<NnunetModel>> nnunet_;  // per model: set for those imported from nnU-Net
  // Per model: set for a model group, whose first part's package stands in MODELS_ (loaded and checked).
  std::vector<std::unique_ptr<ModelGroup>> groups_;
};

}  // namespace medpipe::cli
