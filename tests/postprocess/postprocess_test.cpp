#include "medpipe/postprocess/postprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
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

}  // namespace
}  // namespace medpipe::postprocess
