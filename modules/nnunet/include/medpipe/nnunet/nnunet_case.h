#pragma once
// One image through nnU-Net's preprocessing (DefaultPreprocessor.run_case) and the network's logits back
// onto its voxels (export_prediction_from_logits), on plain arrays in the order nnU-Net's reader gives:
// (channel, d0, d1, d2) row-major, for a NIfTI file its voxels as stored (NibabelIO's transpose (2, 1, 0)).
#include <cstdint>
#include <vector>

#include "medpipe/nnunet/array4.h"
#include "medpipe/nnunet/nnunet_plan.h"

namespace medpipe::nnunet {

struct PreparedCase {
  Array4 data;                // the sliding window's input: transposed, cropped, normalised, resampled
  Shape3 transposed_shape{};  // the image's shape after transpose_forward, before cropping
  Box3 crop;                  // the non-zero box in that frame
  Spacing3 spacing{};         // the image's spacing (mm) in that frame
  Spacing3 target_spacing{};  // the spacing DATA was resampled to (TargetSpacing)
};

// IMAGE with SPACING (mm along d0, d1, d2) as nnU-Net preprocesses it for PLAN; THREADS share the resampling.
PreparedCase PrepareCase(const Array4& image, const Spacing3& spacing, const NnunetPlan& plan, unsigned threads);

// The label map, in IMAGE's voxel order, of LOGITS [K, PREPARED.data's shape] (float16 values): resampled to
// the cropped image with PLAN's probabilities settings (stored as float16), softmax and argmax in float32
// (region models: sigmoid, regions_class_order, > 0.5), 0 outside the crop, transpose_backward.
std::vector<uint8_t> LabelsFromLogits(const Array4& logits, const PreparedCase& prepared, const NnunetPlan& plan,
                                      unsigned threads);

}  // namespace medpipe::nnunet
