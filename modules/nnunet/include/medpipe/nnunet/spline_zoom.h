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

// Where output voxels sample the input line, as scipy.ndimage.zoom's two ways.
enum class SampleGrid {
  // grid_mode=True, mode 'nearest' (nnU-Net, through skimage): voxel k samples (k + 0.5) * n_in / N - 0.5,
  // clamped to the input; order 3 pads the line by 12 edge-replicated voxels first.
  Centres,
  // grid_mode=False, mode 'constant' (scipy's defaults, TotalSegmentator's change_spacing): voxel k samples
  // k * ((n_in - 1) / (N - 1)); taps beyond the ends are mirrored, and a sample past the last voxel (by
  // rounding) is 0.
  Corners,
};

// IN zoomed along AXIS to N voxels with a spline of ORDER 0, 1 or 3 on the Centres grid. Order 3 first
// pads the line by 12 edge-replicated voxels and computes its B-spline coefficients with mirror
// boundaries, as scipy does for mode 'nearest'; orders 0 and 1 sample the voxels themselves. THREADS
// share the lines.
Grid3 ZoomAxis(const Grid3& in, int axis, int64_t n, int order, unsigned threads = 1);

// The input voxels (indices into the line, padded for Centres) and spline weights of one output voxel, as
// scipy's NI_ZoomShift and get_spline_interpolation_weights compute them. OUTSIDE: a Corners sample past
// the line's end, which scipy sets to 0.
struct SplineTap {
  int64_t index[4] = {};
  double weight[4] = {};
  bool outside = false;
};
std::vector<SplineTap> SplineTaps(int64_t n_in, int64_t n_out, int order, SampleGrid grid);

// GRID's cubic B-spline coefficients along AXIS, in place, with mirror boundaries (scipy's
// spline_filter1d(order=3) for modes 'mirror' and 'constant'). THREADS share the lines.
void CubicCoefficients(Grid3& grid, int axis, unsigned threads = 1);

}  // namespace medpipe::nnunet
