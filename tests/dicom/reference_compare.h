#pragma once
// Voxel-by-voxel comparison of a loaded volume with a reference NIfTI, through patient space, so
// that index order (dcm2niix flips rows) does not matter but every voxel centre must coincide.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include <itkImageRegionConstIteratorWithIndex.h>

#include "medpipe/core/volume.h"

namespace medpipe::testing {

inline std::filesystem::path SharedData() { return MEDPIPE_SHARED_DATA; }

#define MEDPIPE_REQUIRE_SHARED_DATA(relative)                                            \
  if (!std::filesystem::exists(::medpipe::testing::SharedData() / (relative)))           \
  GTEST_SKIP() << "shared data missing: " << (::medpipe::testing::SharedData() / (relative))

// Fraction of voxels whose centre lands on a reference voxel centre within POSITION_MM and whose
// value differs by at most VALUE_TOLERANCE. Fails the test on a size mismatch.
inline void ExpectSameVoxels(const Image3D& ours, const Image3D& reference, double value_tolerance,
                             double position_mm = 1e-3) {
  const auto size = ours.GetLargestPossibleRegion().GetSize();
  const auto ref_size = reference.GetLargestPossibleRegion().GetSize();
  ASSERT_EQ(size[0] * size[1] * size[2], ref_size[0] * ref_size[1] * ref_size[2]);
  size_t misplaced = 0, different = 0;
  double worst = 0;
  itk::ImageRegionConstIteratorWithIndex<Image3D> it(&ours, ours.GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it) {
    Image3D::PointType point;
    ours.TransformIndexToPhysicalPoint(it.GetIndex(), point);
    itk::ContinuousIndex<double, 3> continuous;
    reference.TransformPhysicalPointToContinuousIndex(point, continuous);
    Image3D::IndexType index;
    bool placed = true;
    for (int k = 0; k < 3; ++k) {
      index[k] = std::lround(continuous[k]);
      placed = placed && std::abs(continuous[k] - index[k]) * reference.GetSpacing()[k] <= position_mm;
    }
    if (!placed || !reference.GetLargestPossibleRegion().IsInside(index)) {
      ++misplaced;
      continue;
    }
    const double diff = std::abs(double(it.Get()) - reference.GetPixel(index));
    worst = std::max(worst, diff);
    different += diff > value_tolerance;
  }
  EXPECT_EQ(misplaced, 0u) << "voxel centres that do not fall on the reference grid";
  EXPECT_EQ(different, 0u) << "voxels differing by more than " << value_tolerance << " (worst " << worst << ")";
}

}  // namespace medpipe::testing
