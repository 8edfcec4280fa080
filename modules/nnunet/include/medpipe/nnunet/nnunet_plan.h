#pragma once
// What medpipe needs of OUT_DIR/nnunet.json (scripts/nnunet_export.py, docs/nnunet-import.md) to
// preprocess an image as nnU-Net does and to map the network's logits back.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/nnunet/array4.h"

namespace medpipe::nnunet {

enum class NormalizationScheme { Ct, ZScore, None, RescaleTo01, RgbTo01 };

// One input channel's normalisation; the CT fields are read only for NormalizationScheme::Ct.
struct ChannelNormalization {
  NormalizationScheme scheme = NormalizationScheme::None;
  bool use_mask_for_norm = false;
  double percentile_00_5 = 0.0;
  double percentile_99_5 = 0.0;
  double mean = 0.0;
  double std = 1.0;
};

// resample_data_or_seg_to_shape's settings: spline ORDER in the plane (0, 1 or 3), ORDER_Z along a
// separately resampled low-resolution axis, FORCE_SEPARATE_Z (nullopt: decided from the spacings).
struct ResamplingSettings {
  int order = 3;
  int order_z = 0;
  std::optional<bool> force_separate_z;
};

// nnU-Net's sliding window (predict_sliding_window_return_logits) as the export recorded it.
struct InferenceSettings {
  double tile_step_size = 0.5;          // tiles overlap by 1 - step of the patch
  bool use_gaussian = true;             // weight tiles by a Gaussian (else uniformly)
  double gaussian_sigma_scale = 0.125;  // sigma = patch * scale
  double gaussian_value_scaling = 10;   // the Gaussian's maximum
  std::vector<int> mirror_axes;         // network-frame axes (0 = first spatial); empty: no test-time mirroring
};

struct NnunetPlan {
  std::string image_reader_writer;  // NibabelIO, SimpleITKIO or NibabelIOWithReorient
  int64_t input_channels = 0;
  int64_t output_channels = 0;
  Axes3 transpose_forward{0, 1, 2};
  Axes3 transpose_backward{0, 1, 2};
  Spacing3 spacing{};               // target spacing, network frame (see slice_by_slice)
  Shape3 patch_size{};              // network frame (see slice_by_slice)
  // A 2-D configuration (nnU-Net's "2d"): the network sees one d0 slice at a time. The patch is then
  // {1, p0, p1}, the d0 target spacing is each image's own (TargetSpacing) and mirror axes count from d1.
  bool slice_by_slice = false;
  std::vector<ChannelNormalization> normalization;  // one per input channel
  double separate_z_anisotropy_threshold = 3.0;     // spacing ratio above which one axis is resampled apart
  ResamplingSettings data;                          // image to the plan's spacing
  ResamplingSettings probabilities;                 // logits back to the image's spacing
  InferenceSettings inference;
  // Region models: sigmoid outputs, channel i decides label regions_class_order[i] (later ones win) above 0.5.
  bool has_regions = false;
  std::vector<int> regions_class_order;
};

// The spacing PLAN resamples an image of spacing IMAGE to: the plan's, except along d0 of a 2-D
// configuration, which keeps the image's spacing between slices (nnU-Net's preprocessor and export alike).
Spacing3 TargetSpacing(const NnunetPlan& plan, const Spacing3& image);

// Reads and checks DIR/nnunet.json; a ModelError names the file, the field, what it holds and what
// was expected.
NnunetPlan ReadNnunetPlan(const std::filesystem::path& dir);

}  // namespace medpipe::nnunet
