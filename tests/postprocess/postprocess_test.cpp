#include "medpipe/postprocess/postprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "image_support.h"
#include "medpipe/core/error.h"

namespace medpipe::postprocess {
namespace {

using Index = LabelImage::IndexType;
using testing::Identity;
using testing::Spacing;

model::Label Label(int value, const std::string& name) {
  model::Label label;
  label.value = value;
  label.name = name;
  return label;
}

LabelImage::Pointer Labels(const LabelImage::SizeType& size, const LabelImage::SpacingType& spacing) {
  auto labels = LabelImage::New();
  labels->SetRegions(size);
  labels->SetSpacing(spacing);
  labels->Allocate(true);
  return labels;
}

// Sets the box [FIRST, LAST] (inclusive) to VALUE.
void Box(LabelImage& labels, const Index& first, const Index& last, uint8_t value) {
  for (auto z = first[2]; z <= last[2]; ++z) {
    for (auto y = first[1]; y <= last[1]; ++y) {
      for (auto x = first[0]; x <= last[0]; ++x) labels.SetPixel({{x, y, z}}, value);
    }
  }
}

size_t Count(const LabelImage& labels, uint8_t value) {
  const auto* begin = labels.GetBufferPointer();
  return std::count(begin, begin + labels.GetBufferedRegion().GetNumberOfPixels(), value);
}

TEST(CleanTest, DropsComponentsBelowTheMinimumVolumeInCubicMillimetres) {
  // 0.5 x 0.5 x 2 mm: 0.5 mm3 per voxel, so 2 mm3 is 4 voxels.
  const auto labels = Labels({{20, 10, 2}}, Spacing(0.5, 0.5, 2.0));
  Box(*labels, {{1, 1, 0}}, {{3, 1, 0}}, 1);    // 3 voxels, 1.5 mm3: dropped
  Box(*labels, {{1, 5, 0}}, {{4, 5, 0}}, 1);    // 4 voxels, 2 mm3: kept
  Box(*labels, {{5, 8, 0}}, {{14, 8, 0}}, 1);   // 10 voxels: kept
  Box(*labels, {{15, 7, 0}}, {{15, 7, 0}}, 1);  // touches the 10 only at an edge: its own component, dropped
  Box(*labels, {{1, 1, 1}}, {{5, 1, 1}}, 2);    // 5 voxels of another label: kept
  model::Postprocessing rules;
  rules.min_component_mm3 = 2.0;
  Clean(*labels, rules, {Label(1, "a"), Label(2, "b")});
  EXPECT_EQ(Count(*labels, 1), 14U);
  EXPECT_EQ(labels->GetPixel({{1, 1, 0}}), 0);
  EXPECT_EQ(labels->GetPixel({{15, 7, 0}}), 0);
  EXPECT_EQ(labels->GetPixel({{1, 5, 0}}), 1);
  EXPECT_EQ(Count(*labels, 2), 5U);

  rules.largest_component = true;
  Clean(*labels, rules, {Label(1, "a"), Label(2, "b")});
  EXPECT_EQ(Count(*labels, 1), 10U);
  EXPECT_EQ(labels->GetPixel({{5, 8, 0}}), 1);
  EXPECT_EQ(Count(*labels, 2), 5U);
}

TEST(CleanTest, FillsEnclosedHolesButNotOpenOnesNorOtherLabels) {
  model::Postprocessing rules;
  rules.fill_holes = true;
  const std::vector<model::Label> label_list = {Label(1, "shell"), Label(2, "core")};

  // A closed box shell 1..7 with a hollow 2..6 (125 voxels), one voxel of label 2 inside.
  const auto closed = Labels({{9, 9, 9}}, Spacing(1.0, 1.0, 1.0));
  Box(*closed, {{1, 1, 1}}, {{7, 7, 7}}, 1);
  Box(*closed, {{2, 2, 2}}, {{6, 6, 6}}, 0);
  closed->SetPixel({{4, 4, 4}}, 2);
  Clean(*closed, rules, label_list);
  EXPECT_EQ(Count(*closed, 1), 7U * 7 * 7 - 1);
  EXPECT_EQ(closed->GetPixel({{4, 4, 4}}), 2);

  // The same box without its x = 7 face: the hollow reaches the image border.
  const auto open = Labels({{9, 9, 9}}, Spacing(1.0, 1.0, 1.0));
  Box(*open, {{1, 1, 1}}, {{7, 7, 7}}, 1);
  Box(*open, {{2, 2, 2}}, {{7, 6, 6}}, 0);
  const size_t before = Count(*open, 1);
  Clean(*open, rules, label_list);
  EXPECT_EQ(Count(*open, 1), before);
  EXPECT_EQ(open->GetPixel({{4, 4, 4}}), 0);
}

TEST(CleanTest, FillsHolesInATwoDimensionalImage) {
  model::Postprocessing rules;
  rules.fill_holes = true;
  const auto ring = Labels({{7, 7, 1}}, Spacing(0.2, 0.2, 1.0));
  Box(*ring, {{1, 1, 0}}, {{5, 5, 0}}, 1);
  Box(*ring, {{2, 2, 0}}, {{4, 4, 0}}, 0);
  Clean(*ring, rules, {Label(1, "ring")});
  EXPECT_EQ(Count(*ring, 1), 25U);
}

TEST(MeasureTest, VolumesInMillilitresOnAnisotropicSpacing) {
  // 0.5 x 0.6 x 2.5 mm = 0.75 mm3 per voxel.
  const auto labels = Labels({{20, 20, 12}}, Spacing(0.5, 0.6, 2.5));
  Box(*labels, {{0, 0, 0}}, {{3, 0, 0}}, 1);      // 4 voxels
  Box(*labels, {{0, 5, 0}}, {{5, 5, 0}}, 1);      // 6 voxels, separate
  Box(*labels, {{5, 5, 1}}, {{14, 14, 10}}, 3);   // 1000 voxels
  const auto measures = Measure(*labels, {Label(1, "spots"), Label(2, "absent"), Label(3, "block")});
  ASSERT_EQ(measures.size(), 3U);
  EXPECT_EQ(measures[0].value, 1);
  EXPECT_EQ(measures[0].name, "spots");
  EXPECT_EQ(measures[0].voxels, 10U);
  EXPECT_NEAR(measures[0].volume_ml, 0.0075, 1e-12);
  EXPECT_EQ(measures[0].components, 2U);
  EXPECT_EQ(measures[1].voxels, 0U);
  EXPECT_EQ(measures[1].volume_ml, 0.0);
  EXPECT_EQ(measures[1].components, 0U);
  EXPECT_EQ(measures[2].voxels, 1000U);
  EXPECT_NEAR(measures[2].volume_ml, 0.75, 1e-12);
  EXPECT_EQ(measures[2].components, 1U);
}

// A 64^3 grid of 0.5 mm voxels placed in the patient by ORIGIN and DIRECTION, with a ball of radius
// 10 mm (label 1) centred at voxel (22, 24, 30) and a 10 mm cube (label 2, voxels 40..59 on each
// axis); the intensity of each voxel is its x index.
struct Phantom {
  LabelImage::Pointer labels;
  Image3D::Pointer intensities;
};

Phantom BallAndCube(const Image3D::PointType& origin, const Image3D::DirectionType& direction) {
  Phantom phantom{Labels({{64, 64, 64}}, Spacing(0.5, 0.5, 0.5)), nullptr};
  phantom.labels->SetOrigin(origin);
  phantom.labels->SetDirection(direction);
  phantom.intensities = MakeImage({{64, 64, 64}}, Spacing(0.5, 0.5, 0.5), origin, direction);
  for (itk::IndexValueType z = 0; z < 64; ++z)
    for (itk::IndexValueType y = 0; y < 64; ++y)
      for (itk::IndexValueType x = 0; x < 64; ++x) {
        const double dx = (x - 22) * 0.5, dy = (y - 24) * 0.5, dz = (z - 30) * 0.5;
        if (dx * dx + dy * dy + dz * dz <= 100) phantom.labels->SetPixel({{x, y, z}}, 1);
        phantom.intensities->SetPixel({{x, y, z}}, static_cast<float>(x));
      }
  Box(*phantom.labels, {{40, 40, 40}}, {{59, 59, 59}}, 2);
  return phantom;
}

TEST(MeasureTest, ShapeOfABallAndACubeAgreesWithTheirFormulas) {
  const auto direction = testing::Rotation(30, 20);  // oblique: centroids must be in patient space
  const Phantom phantom = BallAndCube(testing::Point(-30, 20, 100), direction);
  const auto measures = Measure(*phantom.labels, {Label(1, "ball"), Label(2, "cube"), Label(3, "absent")});
  ASSERT_EQ(measures.size(), 3U);
  const double pi = std::acos(-1.0);

  const LabelShape& ball = measures[0].shape.value();
  EXPECT_NEAR(measures[0].volume_ml * 1000, 4.0 / 3 * pi * 1000, 0.01 * 4.0 / 3 * pi * 1000);  // 4188.8 mm3
  EXPECT_NEAR(ball.surface_mm2, 4 * pi * 100, 0.03 * 4 * pi * 100);  // 1256.6 mm2
  EXPECT_NEAR(ball.sphericity, 1.0, 0.03);
  Image3D::PointType centre;
  phantom.labels->TransformIndexToPhysicalPoint({{22, 24, 30}}, centre);
  for (unsigned k = 0; k < 3; ++k) EXPECT_NEAR(ball.centroid_mm[k], centre[k], 1e-6) << k;
  EXPECT_EQ(ball.first_voxel, (std::array<int64_t, 3>{2, 4, 10}));
  EXPECT_EQ(ball.last_voxel, (std::array<int64_t, 3>{42, 44, 50}));

  const LabelShape& cube = measures[1].shape.value();
  EXPECT_NEAR(measures[1].volume_ml, 1.0, 1e-12);                                         // 20^3 voxels of 0.125 mm3
  // ITK's Crofton estimate is made for curved surfaces: on flat faces along the grid axes it comes to
  // 540 of the cube's 600 mm2 (-10 %), so the cube looks rounder than it is (0.895 for 0.806).
  EXPECT_NEAR(cube.surface_mm2, 0.9 * 600, 0.02 * 600);
  EXPECT_NEAR(cube.sphericity, std::cbrt(36 * pi * 1000 * 1000) / (0.9 * 600), 0.02);
  phantom.labels->TransformIndexToPhysicalPoint({{40, 40, 40}}, centre);
  Image3D::PointType far_corner;
  phantom.labels->TransformIndexToPhysicalPoint({{59, 59, 59}}, far_corner);
  for (unsigned k = 0; k < 3; ++k) EXPECT_NEAR(cube.centroid_mm[k], (centre[k] + far_corner[k]) / 2, 1e-6) << k;
  EXPECT_EQ(cube.first_voxel, (std::array<int64_t, 3>{40, 40, 40}));
  EXPECT_EQ(cube.last_voxel, (std::array<int64_t, 3>{59, 59, 59}));

  EXPECT_FALSE(measures[2].shape.has_value());
  EXPECT_FALSE(measures[0].intensity.has_value()) << "no intensity image given";
}

TEST(MeasureTest, IntensityStatisticsUnderALabelAreTheHandComputedOnes) {
  const Phantom phantom = BallAndCube(testing::Point(0, 0, 0), testing::Identity());
  const auto measures = Measure(*phantom.labels, {Label(2, "cube"), Label(3, "absent")}, phantom.intensities.GetPointer());
  // Under the cube the values are x = 40..59, each on 400 voxels: 8,000 values.
  const LabelIntensity& cube = measures[0].intensity.value();
  EXPECT_NEAR(cube.mean, 49.5, 1e-9);
  EXPECT_NEAR(cube.std, std::sqrt(33.25 * 8000 / 7999), 1e-6);  // sample standard deviation of 0..19
  EXPECT_EQ(cube.min, 40);
  EXPECT_EQ(cube.max, 59);
  // Rank q * 7,999 between sorted values, as numpy.percentile: 5 % -> 399.95 -> 40 + 0.95.
  EXPECT_NEAR(cube.p5, 40.95, 1e-9);
  EXPECT_NEAR(cube.p25, 44.75, 1e-9);  // rank 1999.75: values 44 (ranks 1600-1999) and 45
  EXPECT_NEAR(cube.median, 49.5, 1e-9);  // rank 3999.5: 49 and 50
  EXPECT_NEAR(cube.p75, 54.25, 1e-9);  // rank 5999.25: 54 (ranks 5600-5999) and 55
  EXPECT_NEAR(cube.p95, 58.05, 1e-9);    // rank 7599.05: 58 (7200-7599) and 59
  EXPECT_FALSE(measures[1].intensity.has_value());
  const auto other_grid = Labels({{8, 8, 8}}, Spacing(1, 1, 1));
  EXPECT_THROW(Measure(*other_grid, {Label(1, "x")}, phantom.intensities.GetPointer()), Error);
}

}  // namespace
}  // namespace medpipe::postprocess
