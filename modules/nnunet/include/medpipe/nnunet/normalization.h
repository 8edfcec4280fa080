#pragma once
#include <vector>

#include "medpipe/nnunet/array4.h"
#include "medpipe/nnunet/nnunet_plan.h"

namespace medpipe::nnunet {

// Each channel normalised as nnU-Net's default_normalization_schemes, in float32 (before resampling,
// as nnU-Net does). MASK is FindNonzeroCrop's: with use_mask_for_norm, z-score statistics come from
// it and only its voxels change. Means and variances are float32 sums in numpy's pairwise order over
// the array in C order; numpy sums a non-contiguous view (nnU-Net's cropped, transposed array) row
// by row instead, so a z-score may differ from nnU-Net's by float32 rounding of the statistics.
Array4 Normalize(Array4 data, const Mask3& mask, const std::vector<ChannelNormalization>& channels);

}  // namespace medpipe::nnunet
