#pragma once
// scipy.ndimage.zoom(order, mode='nearest', grid_mode=True, prefilter=True) as scipy 1.10 computes it,
// one axis at a time: the tensor-product B-spline is separable, so zooming the axes one after another
// equals scipy's one pass up to float64 rounding.
#include <vector>

#include "medpipe/nnunet/array4.h"

namespace medpipe::nnunet {

// One channel in float64, row-major.
struct Grid3 {
  Shape3 shape{};
  std::vector<double> values;
};

// IN zoomed along AXIS to N voxels with a spline of ORDER 0, 1 or 3. Output voxel k samples input
// coordinate (k + 0.5) * n_in / N - 0.5, clamped to the input. Order 3 first pads the line by 12
// edge-replicated voxels and computes its B-spline coefficients with mirror boundaries, as scipy does
// for mode 'nearest'; orders 0 and 1 sample the voxels themselves. THREADS share the lines.
Grid3 ZoomAxis(const Grid3& in, int axis, int64_t n, int order, unsigned threads = 1);

}  // namespace medpipe::nnunet
