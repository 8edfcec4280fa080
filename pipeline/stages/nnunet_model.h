#pragma once
// A model imported from nnU-Net (manifest "preprocessing": "nnunet") run as nnU-Net's predictor runs it
// (docs/nnunet-import.md): the series' voxel array in nnU-Net's reader order, modules/nnunet's
// preprocessing, sliding window over model.pt's fold_logits and back-mapping, a label map on the
// series' own grid. The three steps match ModelRunner's Prepare, Infer and Finish.
#include <memory>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/script.h>

#include "medpipe/core/volume.h"
#include "medpipe/model/manifest.h"
#include "medpipe/nnunet/nnunet_case.h"
#include "medpipe/nnunet/sliding_window.h"
#include "stages/series_work.h"

namespace medpipe::cli {

// Threads for the CPU steps around the network: as many as LibTorch's intra-op pool on the calling thread,
// set by the rule of the other models' inference.
unsigned NnunetCpuThreads();

// LABELS (ITK's buffer order, one per voxel) as a label image on GRID's geometry.
LabelImage::Pointer LabelImageOn(const Image3D& grid, const std::vector<uint8_t>& labels);

// One series on its way through an nnU-Net model.
struct NnunetJob {
  nnunet::PreparedCase prepared;
  bool rows_reversed = false;  // a DICOM series laid out as dcm2niix stores it
  nnunet::WindowLogits window;
};

class NnunetModel {
 public:
  // MANIFEST's plan (checked against the manifest's sha256 and outputs) and model.pt's fold_logits on
  // DEVICE; a ModelError names what does not fit. TILE_STEP_SIZE replaces the plan's (TotalSegmentator's 0.8).
  NnunetModel(const model::Manifest& manifest, torch::Device device, std::optional<double> tile_step_size = {});

  // CPU: SERIES' voxels in the plan's reader order, preprocessed.
  std::shared_ptr<NnunetJob> Prepare(const SeriesContext& series) const;
  // CPU: IMAGE, already in the plan's reader order (C, d0, d1, d2) with SPACING (mm along d0, d1, d2), preprocessed.
  std::shared_ptr<NnunetJob> PrepareArray(const nnunet::Array4& image, const nnunet::Spacing3& spacing) const;
  // The device: the sliding window, TILE_BATCH tiles per network call; REPORT gets tiles and device.
  void Infer(NnunetJob& job, int64_t tile_batch, nlohmann::json& report);
  // CPU: the label map on GRID (the series' own).
  LabelImage::Pointer Finish(const NnunetJob& job, const Image3D& grid) const;
  // CPU: nnU-Net's label map in the order of the array PrepareArray was given (no postprocessing).
  std::vector<uint8_t> Labels(const NnunetJob& job) const;

 private:
  model::Manifest manifest_;
  nnunet::NnunetPlan plan_;
  torch::jit::Module module_;
  torch::Device device_;
};

}  // namespace medpipe::cli
