#pragma once
// nnU-Net's sliding window (nnUNetPredictor.predict_sliding_window_return_logits) around a network that
// gives every fold's logits, in nnU-Net's arithmetic: float16 Gaussian and accumulators, each fold
// stitched on its own, the folds' float16 logits summed and divided (docs/nnunet-import.md, step 7).
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include <torch/types.h>

#include "medpipe/nnunet/array4.h"
#include "medpipe/nnunet/nnunet_plan.h"

namespace medpipe::nnunet {

// The network: tiles [N, C, *patch] float32 -> the folds' logits [F, N, K, *patch] (model.pt's fold_logits).
using FoldLogits = std::function<torch::Tensor(const torch::Tensor&)>;

// compute_steps_for_sliding_window: the tile starts along each axis of SIZE (each at least PATCH), at most
// STEP * patch apart and spread evenly (numpy's round, halves to even). SLICE_BY_SLICE (a 2-D network):
// every d0 slice, as _internal_get_sliding_window_slicers does when the patch has one axis fewer.
std::array<std::vector<int64_t>, 3> TileStarts(const Shape3& size, const Shape3& patch, double step,
                                               bool slice_by_slice = false);

// compute_gaussian: a unit impulse at patch // 2 filtered with scipy's gaussian_filter (sigma = patch *
// SIGMA_SCALE, truncate 4, mode constant) in float64, scaled to a maximum of VALUE_SCALING, cast to
// float16, zeros replaced by the smallest non-zero value. [patch] float16. An axis of extent 1 (the d0 of a
// 2-D configuration's patch) contributes exactly 1: nnU-Net's 2-D Gaussian has no such axis.
torch::Tensor GaussianImportance(const Shape3& patch, double sigma_scale, double value_scaling);

struct WindowLogits {
  Array4 logits;      // [K, DATA's shape], float16 values
  int64_t tiles = 0;  // tiles per fold
};

// DATA padded to the patch (zeros, centred), its tiles through NETWORK TILE_BATCH at a time with the
// mirrored copies of PLAN's allowed axes in the same batch, weighted and accumulated per fold. A 2-D
// network (PLAN's slice_by_slice) gets its tiles as [N, C, p0, p1], one d0 slice each.
WindowLogits PredictLogits(const FoldLogits& network, const Array4& data, const NnunetPlan& plan, int64_t tile_batch);

}  // namespace medpipe::nnunet
