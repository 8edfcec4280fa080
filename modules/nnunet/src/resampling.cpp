#include "medpipe/nnunet/resampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "medpipe/nnunet/spline_zoom.h"

namespace medpipe::nnunet {

namespace {

// The single axis of largest spacing, or nullopt when several tie (numpy's max / spacing == 1).
std::optional<int> LowResolutionAxis(const Spacing3& spacing) {
  const double largest = *std::max_element(spacing.begin(), spacing.end());
  std::optional<int> axis;
  for (int a = 0; a < 3; ++a) {
    if (largest / spacing[a] != 1.0) continue;
    if (axis) return std::nullopt;
    axis = a;
  }
  return axis;
}

bool Anisotropic(const Spacing3& spacing, double threshold) {
  const auto [low, high] = std::minmax_element(spacing.begin(), spacing.end());
  return *high / *low > threshold;
}

// Zooms along each axis in AXES whose size changes, shrinking axes first (less work for the others).
Grid3 ZoomAxes(Grid3 grid, const Shape3& shape, std::vector<int> axes, int order, unsigned threads) {
  const auto ratio = [&](int a) { return static_cast<double>(shape[a]) / static_cast<double>(grid.shape[a]); };
  std::stable_sort(axes.begin(), axes.end(), [&](int a, int b) { return ratio(a) < ratio(b); });
  for (int axis : axes)
    if (grid.shape[axis] != shape[axis]) grid = ZoomAxis(grid, axis, shape[axis], order, threads);
  return grid;
}

// The slice across AXIS that voxel I of SHAPE lies in; 0 for all when AXIS is nullopt.
size_t SliceOf(int64_t i, const Shape3& shape, std::optional<int> axis) {
  if (!axis) return 0;
  const int64_t stride = *axis == 0 ? shape[1] * shape[2] : *axis == 1 ? shape[2] : 1;
  return static_cast<size_t>(i / stride % shape[*axis]);
}

// The value range of each slice across AXIS (of the whole grid when AXIS is nullopt).
std::vector<std::pair<double, double>> Ranges(const float* values, const Shape3& shape, std::optional<int> axis) {
  std::vector<std::pair<double, double>> ranges(static_cast<size_t>(axis ? shape[*axis] : 1), {INFINITY, -INFINITY});
  for (int64_t i = 0; i < VoxelCount(shape); ++i) {
    auto& [low, high] = ranges[SliceOf(i, shape, axis)];
    low = std::min<double>(low, values[i]);
    high = std::max<double>(high, values[i]);
  }
  return ranges;
}

void ResampleChannel(const float* in, const Shape3& shape, float* out, const Shape3& new_shape,
                     std::optional<int> separate_axis, const ResamplingSettings& settings, unsigned threads,
                     Stored stored) {
  Grid3 grid{shape, std::vector<double>(in, in + VoxelCount(shape))};
  std::vector<int> axes{0, 1, 2};
  if (separate_axis) axes.erase(axes.begin() + *separate_axis);
  Shape3 zoomed = new_shape;
  if (separate_axis) zoomed[*separate_axis] = shape[*separate_axis];
  grid = ZoomAxes(std::move(grid), zoomed, axes, settings.order, threads);

  const auto ranges = Ranges(in, shape, separate_axis);
  for (int64_t i = 0; i < VoxelCount(zoomed); ++i) {
    const auto& [low, high] = ranges[SliceOf(i, zoomed, separate_axis)];
    grid.values[i] = std::clamp(grid.values[i], low, high);
  }
  if (separate_axis) grid = ZoomAxes(std::move(grid), new_shape, {*separate_axis}, settings.order_z, threads);
  if (stored == Stored::Float16) {
    std::transform(grid.values.begin(), grid.values.end(), out, [](double v) { return RoundToHalf(v); });
  } else {
    std::transform(grid.values.begin(), grid.values.end(), out, [](double v) { return static_cast<float>(v); });
  }
}

}  // namespace

float RoundToHalf(double value) { return static_cast<float>(static_cast<_Float16>(value)); }

Shape3 NewShape(const Shape3& shape, const Spacing3& spacing, const Spacing3& target) {
  Shape3 out{};
  for (int a = 0; a < 3; ++a) out[a] = static_cast<int64_t>(std::nearbyint(spacing[a] / target[a] * shape[a]));
  return out;
}

std::optional<int> SeparateZAxis(const Spacing3& current, const Spacing3& target, std::optional<bool> force,
                                 double threshold) {
  if (force) return *force ? LowResolutionAxis(current) : std::nullopt;
  if (Anisotropic(current, threshold)) return LowResolutionAxis(current);
  if (Anisotropic(target, threshold)) return LowResolutionAxis(target);
  return std::nullopt;
}

Array4 Resample(const Array4& data, const Shape3& new_shape, const Spacing3& current, const Spacing3& target,
                const ResamplingSettings& settings, double separate_z_threshold, unsigned threads, Stored stored) {
  if (data.Shape() == new_shape) return data;
  const std::optional<int> axis = SeparateZAxis(current, target, settings.force_separate_z, separate_z_threshold);
  Array4 out(data.Channels(), new_shape);
  for (int64_t c = 0; c < data.Channels(); ++c)
    ResampleChannel(data.Channel(c), data.Shape(), out.Channel(c), new_shape, axis, settings, threads, stored);
  return out;
}

}  // namespace medpipe::nnunet
