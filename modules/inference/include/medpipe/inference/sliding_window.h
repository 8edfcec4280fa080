#pragma once
// Patch placement and weighting for sliding-window inference, as nnU-Net does it.
#include <array>
#include <vector>

#include <torch/types.h>

namespace medpipe::inference {

// Patch start offsets along one axis of SIZE voxels (>= PATCH): the fewest evenly spaced patches
// whose step is at most PATCH * (1 - OVERLAP), the first at 0 and the last flush with the end.
std::vector<int64_t> WindowStarts(int64_t size, int64_t patch, double overlap);

// Importance map over a patch [Z, Y, X]: a Gaussian centred on the patch with sigma = patch / 8,
// scaled to a maximum of 1, with zeros lifted to the smallest positive value so every voxel counts.
torch::Tensor GaussianImportance(const std::array<int64_t, 3>& patch_zyx);

}  // namespace medpipe::inference
