#include "medpipe/dicom/diffusion_table.h"

#include <array>
#include <cmath>
#include <sstream>

namespace medpipe::dicom {
namespace {

std::string Number(double value) {
  std::ostringstream out;
  out << (std::abs(value) < 5e-7 ? 0.0 : value);
  return out.str();
}

}  // namespace

std::optional<DiffusionText> DiffusionTable(const Series& series, const Image3D::DirectionType& direction) {
  bool any = false;  // fMRI from GE carries b-value 0 in every volume: no table, as dcm2niix
  for (size_t v = 0; v < series.VolumeCount(); ++v) any = any || series.VolumeFrame(v).b_value.value_or(0) > 0;
  if (!any) return std::nullopt;
  // The NIfTI affine is diag(-1,-1,1) (LPS to RAS) times DIRECTION times the spacing: same sign of determinant.
  const auto& d = direction;
  const double determinant = d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1]) -
                             d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0]) +
                             d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
  const bool flip_x = determinant > 0;
  std::ostringstream bval;
  std::array<std::ostringstream, 3> bvec;
  for (size_t v = 0; v < series.VolumeCount(); ++v) {
    const FrameInfo& frame = series.VolumeFrame(v);
    const Vec3 gradient = frame.gradient.value_or(Vec3{0, 0, 0});
    Vec3 voxel = gradient;
    if (!frame.gradient_in_voxel_frame) {
      for (int axis = 0; axis < 3; ++axis) {
        voxel[axis] = 0;
        for (int k = 0; k < 3; ++k) voxel[axis] += gradient[k] * direction[k][axis];
      }
    }
    if (flip_x) voxel[0] = -voxel[0];
    const char* separator = v ? " " : "";
    bval << separator << Number(frame.b_value.value_or(0.0));
    for (int axis = 0; axis < 3; ++axis) bvec[axis] << separator << Number(voxel[axis]);
  }
  return DiffusionText{bval.str() + "\n", bvec[0].str() + "\n" + bvec[1].str() + "\n" + bvec[2].str() + "\n"};
}

}  // namespace medpipe::dicom
