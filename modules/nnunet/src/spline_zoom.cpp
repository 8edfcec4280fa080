#include "medpipe/nnunet/spline_zoom.h"

#include <algorithm>
#include <cmath>

#include "medpipe/core/parallel_for.h"

namespace medpipe::nnunet {

namespace {

constexpr int64_t kSplinePad = 12;  // scipy 1.10's _prepad_for_spline_filter for mode 'nearest'
constexpr double kCubicPole = -0.267949192431122706472553658494127633;  // sqrt(3) - 2
constexpr int64_t kColumns = 64;  // lines filtered side by side, so that each step is a contiguous row

// scipy's mirror extension of index I into a line of N voxels (NI_ZoomShift's tap offsets).
int64_t Mirror(int64_t i, int64_t n) {
  if (n <= 1) return 0;
  const int64_t period = 2 * n - 2;
  if (i < 0) {
    i = period * (-i / period) + i;
    return i <= 1 - n ? i + period : -i;
  }
  if (i >= n) {
    i -= period * (i / period);
    return i >= n ? period - i : i;
  }
  return i;
}

int64_t SplinePad(int order, SampleGrid grid) { return order > 1 && grid == SampleGrid::Centres ? kSplinePad : 0; }

std::vector<SplineTap> Taps(int64_t n_in, int64_t n_out, int order, int64_t pad, SampleGrid grid) {
  const int64_t length = n_in + 2 * pad;
  const bool corners = grid == SampleGrid::Corners;
  const double zoom = corners ? (n_out > 1 ? static_cast<double>(n_in - 1) / static_cast<double>(n_out - 1) : 1.0)
                              : static_cast<double>(n_in) / static_cast<double>(n_out);
  std::vector<SplineTap> taps(static_cast<size_t>(n_out));
  for (int64_t k = 0; k < n_out; ++k) {
    const double cc = corners ? static_cast<double>(k) * zoom
                              : std::clamp((k + 0.5) * zoom - 0.5 + pad, 0.0, static_cast<double>(length - 1));
    SplineTap& tap = taps[static_cast<size_t>(k)];
    tap.outside = corners && cc > static_cast<double>(n_in - 1);
    if (tap.outside) continue;
    const auto start = static_cast<int64_t>(order == 0 ? std::floor(cc + 0.5) : std::floor(cc) - order / 2);
    for (int j = 0; j <= order; ++j)
      tap.index[j] = corners ? Mirror(start + j, length) : std::clamp<int64_t>(start + j, 0, length - 1);
    const double x = cc - std::floor(cc);
    if (order == 0) {
      tap.weight[0] = 1.0;
    } else if (order == 1) {
      tap.weight[0] = 1.0 - x;
      tap.weight[1] = 1.0 - tap.weight[0];
    } else {
      const double y = x;
      const double z = 1.0 - x;
      tap.weight[1] = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
      tap.weight[2] = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
      tap.weight[0] = z * z * z / 6.0;
      tap.weight[3] = 1.0 - tap.weight[0] - tap.weight[1] - tap.weight[2];
    }
  }
  return taps;
}

// Cubic B-spline coefficients of LENGTH rows of WIDTH independent lines (row-major), in place: scipy's
// apply_filter with the mirror initialisation it uses for mode 'nearest'.
void CubicPrefilter(double* c, int64_t length, int64_t width) {
  const double z = kCubicPole;
  const double gain = (1.0 - z) * (1.0 - 1.0 / z);
  for (int64_t i = 0; i < length * width; ++i) c[i] *= gain;
  double* last = c + (length - 1) * width;
  const double z_n_1 = std::pow(z, static_cast<double>(length - 1));
  std::vector<double> first(c, c + width);
  for (int64_t w = 0; w < width; ++w) first[w] += z_n_1 * last[w];
  double z_i = z;
  for (int64_t i = 1; i < length - 1; ++i, z_i *= z) {
    const double* row = c + i * width;
    const double* mirrored = c + (length - 1 - i) * width;
    for (int64_t w = 0; w < width; ++w) first[w] += z_i * (row[w] + z_n_1 * mirrored[w]);
  }
  for (int64_t w = 0; w < width; ++w) c[w] = first[w] / (1.0 - z_n_1 * z_n_1);
  for (int64_t i = 1; i < length; ++i)
    for (int64_t w = 0; w < width; ++w) c[i * width + w] += z * c[(i - 1) * width + w];
  const double* before_last = last - width;
  for (int64_t w = 0; w < width; ++w) last[w] = (z * before_last[w] + last[w]) * z / (z * z - 1.0);
  for (int64_t i = length - 2; i >= 0; --i)
    for (int64_t w = 0; w < width; ++w) c[i * width + w] = z * (c[(i + 1) * width + w] - c[i * width + w]);
}

// Runs BODY(o, inner, column, width) over blocks of up to kColumns neighbouring lines along AXIS of a
// grid of SHAPE: line (o, column + w) starts at (o * shape[axis]) * inner + column + w, steps by INNER.
template <typename Body>
void ForLineBlocks(const Shape3& shape, int axis, unsigned threads, const Body& body) {
  int64_t outer = 1;
  int64_t inner = 1;
  for (int a = 0; a < axis; ++a) outer *= shape[a];
  for (int a = axis + 1; a < 3; ++a) inner *= shape[a];
  const int64_t blocks = (inner + kColumns - 1) / kColumns;
  ParallelFor(static_cast<size_t>(outer * blocks), threads, [&](size_t item) {
    const int64_t column = static_cast<int64_t>(item) % blocks * kColumns;
    body(static_cast<int64_t>(item) / blocks, inner, column, std::min(kColumns, inner - column));
  });
}

}  // namespace

Grid3 ZoomAxis(const Grid3& in, int axis, int64_t n, int order, unsigned threads) {
  const int64_t n_in = in.shape[axis];
  Grid3 out{in.shape, {}};
  out.shape[axis] = n;
  out.values.resize(static_cast<size_t>(VoxelCount(out.shape)));
  const int64_t pad = SplinePad(order, SampleGrid::Centres);
  const int64_t length = n_in + 2 * pad;
  const std::vector<SplineTap> taps = Taps(n_in, n, order, pad, SampleGrid::Centres);

  ForLineBlocks(in.shape, axis, threads, [&](int64_t o, int64_t inner, int64_t column, int64_t width) {
    thread_local std::vector<double> line;
    line.resize(static_cast<size_t>(length * width));
    for (int64_t p = 0; p < length; ++p) {
      const int64_t source = std::clamp<int64_t>(p - pad, 0, n_in - 1);
      std::copy_n(in.values.data() + (o * n_in + source) * inner + column, width, line.data() + p * width);
    }
    if (order == 3) CubicPrefilter(line.data(), length, width);
    for (int64_t k = 0; k < n; ++k) {
      const SplineTap& tap = taps[static_cast<size_t>(k)];
      double* target = out.values.data() + (o * n + k) * inner + column;
      std::fill_n(target, width, 0.0);
      for (int j = 0; j <= order; ++j) {
        const double* row = line.data() + tap.index[j] * width;
        for (int64_t w = 0; w < width; ++w) target[w] += tap.weight[j] * row[w];
      }
    }
  });
  return out;
}

std::vector<SplineTap> SplineTaps(int64_t n_in, int64_t n_out, int order, SampleGrid grid) {
  return Taps(n_in, n_out, order, SplinePad(order, grid), grid);
}

void CubicCoefficients(Grid3& grid, int axis, unsigned threads) {
  const int64_t length = grid.shape[axis];
  if (length < 2) return;  // scipy leaves a 1-voxel line as it is
  ForLineBlocks(grid.shape, axis, threads, [&](int64_t o, int64_t inner, int64_t column, int64_t width) {
    thread_local std::vector<double> line;
    line.resize(static_cast<size_t>(length * width));
    double* first = grid.values.data() + o * length * inner + column;
    for (int64_t p = 0; p < length; ++p) std::copy_n(first + p * inner, width, line.data() + p * width);
    CubicPrefilter(line.data(), length, width);
    for (int64_t p = 0; p < length; ++p) std::copy_n(line.data() + p * width, width, first + p * inner);
  });
}

}  // namespace medpipe::nnunet
