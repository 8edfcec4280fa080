#include "medpipe/nnunet/spline_zoom.h"

#include <algorithm>
#include <cmath>

#include "medpipe/core/parallel_for.h"

namespace medpipe::nnunet {

namespace {

constexpr int64_t kSplinePad = 12;  // scipy 1.10's _prepad_for_spline_filter for mode 'nearest'
constexpr double kCubicPole = -0.267949192431122706472553658494127633;  // sqrt(3) - 2
constexpr int64_t kColumns = 64;  // lines filtered side by side, so that each step is a contiguous row

// Input positions (clamped into the line) and weights of one output voxel, as scipy's NI_ZoomShift
// and get_spline_interpolation_weights compute them.
struct Tap {
  int64_t index[4] = {};
  double weight[4] = {};
};

std::vector<Tap> Taps(int64_t n_in, int64_t n_out, int order, int64_t pad) {
  const double zoom = static_cast<double>(n_in) / static_cast<double>(n_out);
  const int64_t length = n_in + 2 * pad;
  std::vector<Tap> taps(static_cast<size_t>(n_out));
  for (int64_t k = 0; k < n_out; ++k) {
    const double cc = std::clamp((k + 0.5) * zoom - 0.5 + pad, 0.0, static_cast<double>(length - 1));
    Tap& tap = taps[static_cast<size_t>(k)];
    const auto start = static_cast<int64_t>(order == 0 ? std::floor(cc + 0.5) : std::floor(cc) - order / 2);
    for (int j = 0; j <= order; ++j) tap.index[j] = std::clamp<int64_t>(start + j, 0, length - 1);
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

}  // namespace

Grid3 ZoomAxis(const Grid3& in, int axis, int64_t n, int order, unsigned threads) {
  const int64_t n_in = in.shape[axis];
  Grid3 out{in.shape, {}};
  out.shape[axis] = n;
  out.values.resize(static_cast<size_t>(VoxelCount(out.shape)));
  int64_t outer = 1;
  int64_t inner = 1;
  for (int a = 0; a < axis; ++a) outer *= in.shape[a];
  for (int a = axis + 1; a < 3; ++a) inner *= in.shape[a];
  const int64_t pad = order > 1 ? kSplinePad : 0;
  const int64_t length = n_in + 2 * pad;
  const std::vector<Tap> taps = Taps(n_in, n, order, pad);
  const int64_t blocks = (inner + kColumns - 1) / kColumns;

  ParallelFor(static_cast<size_t>(outer * blocks), threads, [&](size_t item) {
    const int64_t o = static_cast<int64_t>(item) / blocks;
    const int64_t column = static_cast<int64_t>(item) % blocks * kColumns;
    const int64_t width = std::min(kColumns, inner - column);
    thread_local std::vector<double> line;
    line.resize(static_cast<size_t>(length * width));
    for (int64_t p = 0; p < length; ++p) {
      const int64_t source = std::clamp<int64_t>(p - pad, 0, n_in - 1);
      std::copy_n(in.values.data() + (o * n_in + source) * inner + column, width, line.data() + p * width);
    }
    if (order == 3) CubicPrefilter(line.data(), length, width);
    for (int64_t k = 0; k < n; ++k) {
      const Tap& tap = taps[static_cast<size_t>(k)];
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

}  // namespace medpipe::nnunet
