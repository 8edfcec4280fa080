#include "medpipe/nnunet/totalseg_resampling.h"

#include <cmath>
#include <cstdlib>

#include <vnl/algo/vnl_svd.h>
#include <vnl/vnl_matrix_fixed.h>

#include "medpipe/core/parallel_for.h"

namespace medpipe::nnunet {
namespace {

// nibabel's axis a is the Grid3's axis 2 - a (ITK's buffer, i fastest).
constexpr int GridAxis(int nibabel_axis) { return 2 - nibabel_axis; }

std::array<int64_t, 3> NibabelShape(const Grid3& grid) { return {grid.shape[2], grid.shape[1], grid.shape[0]}; }

// Copies VALUES from a grid of nibabel shape FROM_SHAPE, where canonical voxel c is voxel v with
// v[a] = c[ras_axis[a]] (mirrored when flipped), into the canonical order, or back when TO_CANONICAL is false.
Grid3 Reorient(const Grid3& in, const AxisOrientation& axes, bool to_canonical) {
  const auto in_shape = NibabelShape(in);
  std::array<int64_t, 3> original{};  // the original image's nibabel shape
  if (to_canonical) {
    original = in_shape;
  } else {
    for (int a = 0; a < 3; ++a) original[a] = in_shape[axes.ras_axis[a]];
  }
  std::array<int64_t, 3> canonical{};
  for (int a = 0; a < 3; ++a) canonical[axes.ras_axis[a]] = original[a];
  const auto& out_shape = to_canonical ? canonical : original;
  Grid3 out{{out_shape[2], out_shape[1], out_shape[0]}, std::vector<double>(in.values.size())};
  std::array<int64_t, 3> c{};
  for (c[2] = 0; c[2] < canonical[2]; ++c[2])
    for (c[1] = 0; c[1] < canonical[1]; ++c[1])
      for (c[0] = 0; c[0] < canonical[0]; ++c[0]) {
        std::array<int64_t, 3> v{};
        for (int a = 0; a < 3; ++a) {
          const int64_t along = c[axes.ras_axis[a]];
          v[a] = axes.flipped[a] ? original[a] - 1 - along : along;
        }
        const int64_t c_offset = (c[2] * canonical[1] + c[1]) * canonical[0] + c[0];
        const int64_t v_offset = (v[2] * original[1] + v[1]) * original[0] + v[0];
        if (to_canonical) {
          out.values[static_cast<size_t>(c_offset)] = in.values[static_cast<size_t>(v_offset)];
        } else {
          out.values[static_cast<size_t>(v_offset)] = in.values[static_cast<size_t>(c_offset)];
        }
      }
  return out;
}

// scipy.ndimage.zoom(IN, order=ORDER (0 or 3), mode='constant', grid_mode=False) to nibabel shape OUT in
// one pass, summed as NI_ZoomShift sums it (each voxel's taps in C order, every coefficient times the
// weights of axes 0, 1, 2 in turn): TotalSegmentator truncates the result to int32, so a value within
// rounding of an integer must round as scipy's does.
Grid3 ScipyZoom(const Grid3& in, const std::array<int64_t, 3>& out, int order, unsigned threads) {
  Grid3 coefficients = in;
  if (order == 3)
    for (int a = 0; a < 3; ++a) CubicCoefficients(coefficients, GridAxis(a), threads);
  const auto shape = NibabelShape(in);
  std::array<std::vector<SplineTap>, 3> taps;
  for (int a = 0; a < 3; ++a) taps[a] = SplineTaps(shape[a], out[a], order, SampleGrid::Corners);
  const int64_t stride_j = shape[0];
  const int64_t stride_k = shape[0] * shape[1];
  Grid3 result{{out[2], out[1], out[0]}, std::vector<double>(static_cast<size_t>(out[0] * out[1] * out[2]))};
  ParallelFor(static_cast<size_t>(out[2]), threads, [&](size_t plane) {
    const SplineTap& tk = taps[2][plane];
    double* target = result.values.data() + plane * out[1] * out[0];
    for (int64_t oj = 0; oj < out[1]; ++oj) {
      const SplineTap& tj = taps[1][static_cast<size_t>(oj)];
      for (int64_t oi = 0; oi < out[0]; ++oi, ++target) {
        const SplineTap& ti = taps[0][static_cast<size_t>(oi)];
        if (ti.outside || tj.outside || tk.outside) continue;
        double sum = 0.0;
        for (int fi = 0; fi <= order; ++fi)
          for (int fj = 0; fj <= order; ++fj)
            for (int fk = 0; fk <= order; ++fk) {
              double term = coefficients.values[static_cast<size_t>(ti.index[fi] + tj.index[fj] * stride_j +
                                                                    tk.index[fk] * stride_k)];
              if (order > 0) {
                term *= ti.weight[fi];
                term *= tj.weight[fj];
                term *= tk.weight[fk];
              }
              sum += term;
            }
        *target = sum;
      }
    }
  });
  return result;
}

}  // namespace

Affine4 RasAffine(const std::array<double, 3>& origin, const std::array<std::array<double, 3>, 3>& direction,
                  const Spacing3& spacing) {
  constexpr double kLpsToRas[3] = {-1.0, -1.0, 1.0};
  Affine4 affine{};
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) affine[r][c] = kLpsToRas[r] * direction[r][c] * spacing[c];
    affine[r][3] = kLpsToRas[r] * origin[r];
  }
  affine[3][3] = 1.0;
  return affine;
}

OrientedGrid OrientedGridOf(const Image3D& image) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  OrientedGrid oriented;
  oriented.grid.shape = {static_cast<int64_t>(size[2]), static_cast<int64_t>(size[1]), static_cast<int64_t>(size[0])};
  oriented.grid.values.assign(image.GetBufferPointer(), image.GetBufferPointer() + VoxelCount(oriented.grid.shape));
  std::array<double, 3> origin{};
  std::array<std::array<double, 3>, 3> direction{};
  Spacing3 spacing{};
  for (int r = 0; r < 3; ++r) {
    origin[r] = image.GetOrigin()[r];
    spacing[r] = image.GetSpacing()[r];
    for (int c = 0; c < 3; ++c) direction[r][c] = image.GetDirection()[r][c];
  }
  oriented.affine = RasAffine(origin, direction, spacing);
  return oriented;
}

AxisOrientation ClosestRasAxes(const Affine4& affine) {
  vnl_matrix_fixed<double, 3, 3> rs;
  for (int c = 0; c < 3; ++c) {
    double norm = 0;
    for (int r = 0; r < 3; ++r) norm += affine[r][c] * affine[r][c];
    norm = norm > 0 ? std::sqrt(norm) : 1.0;
    for (int r = 0; r < 3; ++r) rs(r, c) = affine[r][c] / norm;
  }
  const vnl_svd<double> svd(rs.as_ref());
  vnl_matrix<double> nearest = svd.U() * svd.V().transpose();  // the closest orthogonal matrix, as nibabel takes it
  AxisOrientation axes;
  for (int in_axis = 0; in_axis < 3; ++in_axis) {
    int out_axis = 0;
    for (int r = 1; r < 3; ++r)
      if (std::abs(nearest(r, in_axis)) > std::abs(nearest(out_axis, in_axis))) out_axis = r;
    axes.ras_axis[in_axis] = out_axis;
    axes.flipped[in_axis] = nearest(out_axis, in_axis) < 0;
    for (int c = 0; c < 3; ++c) nearest(out_axis, c) = 0;  // that RAS axis is taken
  }
  return axes;
}

OrientedGrid ToClosestCanonical(const OrientedGrid& image) {
  const AxisOrientation axes = ClosestRasAxes(image.affine);
  const auto shape = NibabelShape(image.grid);
  OrientedGrid canonical{Reorient(image.grid, axes, true), image.affine};
  for (int a = 0; a < 3; ++a) {
    const int r = axes.ras_axis[a];
    const double sign = axes.flipped[a] ? -1.0 : 1.0;
    for (int row = 0; row < 3; ++row) {
      canonical.affine[row][r] = sign * image.affine[row][a];
      if (axes.flipped[a]) canonical.affine[row][3] += image.affine[row][a] * static_cast<double>(shape[a] - 1);
    }
  }
  return canonical;
}

Grid3 FromClosestCanonical(const Grid3& canonical, const Affine4& original) {
  return Reorient(canonical, ClosestRasAxes(original), false);
}

Spacing3 NiftiZooms(const Affine4& affine) {
  Spacing3 zooms{};
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (int r = 0; r < 3; ++r) sum += affine[r][c] * affine[r][c];
    zooms[c] = static_cast<double>(static_cast<float>(std::sqrt(sum)));
  }
  return zooms;
}

OrientedGrid ResampleImage(const OrientedGrid& image, double spacing_mm, unsigned threads) {
  const Spacing3 zooms = NiftiZooms(image.affine);
  const auto shape = NibabelShape(image.grid);
  OrientedGrid out{{}, image.affine};
  std::array<int64_t, 3> out_shape{};
  for (int a = 0; a < 3; ++a) {
    const double zoom = zooms[a] / spacing_mm;
    out_shape[a] = static_cast<int64_t>(std::nearbyint(static_cast<double>(shape[a]) * zoom));  // Python's round: ties to even
    for (int row = 0; row < 3; ++row) out.affine[row][a] = image.affine[row][a] / zoom;
  }
  out.grid = ScipyZoom(image.grid, out_shape, 3, threads);
  for (double& value : out.grid.values) value = std::trunc(value);  // astype(np.int32)
  return out;
}

Grid3 ResampleLabels(const Grid3& labels, const Shape3& shape, unsigned threads) {
  return ScipyZoom(labels, {shape[2], shape[1], shape[0]}, 0, threads);
}

}  // namespace medpipe::nnunet
