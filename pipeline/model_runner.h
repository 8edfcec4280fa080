#pragma once
// The models of a run, applied to each loaded series in three steps that the batch runner overlaps
// across studies: Prepare (preprocess, CPU), Infer (the device), Finish (map back, postprocess,
// write masks and describe it all for result.json, CPU).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/export/dicom_sr.h"
#include "medpipe/inference/model.h"
#include "medpipe/inference/predictor.h"
#include "run_settings.h"

namespace medpipe::cli {

// One loaded series and where its outputs go.
struct SeriesContext {
  const Volume& volume;
  std::string modality;                  // empty for NIfTI input, which any model may read
  const dicom::SourceSeries* source = nullptr;  // the DICOM series, for outputs that reference it
  std::filesystem::path folder;
  std::string stem;                      // file-name prefix of this series' outputs
};

// What the models made of one series.
struct SeriesAnalysis {
  nlohmann::json entries = nlohmann::json::array();  // one per model, as result.json's "analyses"
  std::vector<std::string> findings;  // classification lines for overlays
  // For the study's DICOM SR (DICOM input only).
  std::vector<exporter::SegmentationFindings> segmentations;
  std::vector<exporter::ClassificationFinding> classifications;
  Image3D::Pointer heatmap;  // the first classifier's explanation on the series' grid, for the overlay
  size_t failures = 0;
};

// The series' review picture: its first segmentation's montage, else the X-ray with the findings (and
// the first classifier's heat map) or the plain volume. Returns the PNG's name in SERIES.folder.
std::string WriteSeriesOverlay(const SeriesContext& series, const SeriesAnalysis& analysis);

// One model applied to one series as it moves through the steps.
struct ModelJob {
  inference::LoadedModel* model = nullptr;
  nlohmann::json entry;            // result.json's analysis entry, filled step by step
  std::optional<Volume> prepared;  // model-space input; empty when the model skips the series or a step failed
  torch::Tensor output;            // Infer's: label map (segmentation) or class probabilities, on the CPU
  torch::Tensor heatmap;           // Infer's, for 2-D classifiers: the explanation [H, W] on the model's grid
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
  // What decides a study's outputs (run_settings.h: SettingsJson) with the models as loaded.
  nlohmann::json SettingsJson() const;
  const OutputTypes& Outputs() const { return settings_.outputs; }

 private:
  // Embeddings come from forward_features: features asked of models that have none is refused
  // (ConfigError), and a model without it beside one with it is named in a warning.
  void CheckFeatures() const;
  // Writes the requested files of one segmentation, each read back and checked; returns their names
  // for result.json and adds the SEG to ANALYSIS for the study's SR. A series whose images cannot be
  // referenced (dicom::Series::unreferenceable) gets no SEG or RTSTRUCT, and the reason instead.
  nlohmann::json WriteSegmentationOutputs(const LabelImage& labels, const model::Manifest& manifest,
                                          const SeriesContext& series, const nlohmann::json& measures,
                                          SeriesAnalysis& analysis) const;

  RunSettings settings_;
  std::vector<inference::LoadedModel> models_;
};

}  // namespace medpipe::cli
