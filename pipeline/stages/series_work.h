#pragma once
// What the per-series stages share: the loaded series with where its outputs go, and what the models
// made of it. The stages, in the order of work (files in this folder): select_models (which model reads
// which series, from headers), [preprocess and infer: model_runner], map_back, measure, write_masks
// (NIfTI, SEG, RTSTRUCT), classify, overlays, write_report (the study's SR).
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/core/study_result.h"
#include "medpipe/core/volume.h"
#include "medpipe/dicom/source_series.h"
#include "medpipe/export/dicom_sr.h"

namespace medpipe::cli {

// One loaded series and where its outputs go.
struct SeriesContext {
  const Volume& volume;
  std::string modality;                         // empty for NIfTI input, which any model may read
  const dicom::SourceSeries* source = nullptr;  // the DICOM series, for outputs that reference it
  std::filesystem::path folder;
  std::string stem;                             // file-name prefix of this series' outputs

  // Whether DICOM objects (SEG, RTSTRUCT, SR) can reference the series' images: DICOM input with valid UIDs.
  bool Referenceable() const { return source && source->series->unreferenceable.empty(); }
};

// What the models made of one series.
struct SeriesAnalysis {
  std::vector<Analysis> analyses;                    // one per model: result.json's "analyses"
  std::vector<std::string> findings;                 // classification lines for overlays
  // For the study's DICOM SR (DICOM input only).
  std::vector<exporter::SegmentationFindings> segmentations;
  std::vector<exporter::ClassificationFinding> classifications;
  Image3D::Pointer heatmap;  // the first classifier's explanation on the series' grid, for the overlay
  size_t failures = 0;
};

// The model as the SR identifies it.
inline exporter::ModelIdentity IdentityOf(const model::Manifest& manifest) {
  return {manifest.name, manifest.version, manifest.sha256};
}

}  // namespace medpipe::cli
