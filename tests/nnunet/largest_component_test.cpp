// nnU-Net's postprocessing step (KeepLargestComponent, ITK's connected components) against the same step
// labelled by scipy.ndimage.label (tests/nnunet/reference.py).
#include <gtest/gtest.h>

#include <random>

#include "medpipe/nnunet/largest_component.h"
#include "reference_support.h"

namespace medpipe::nnunet::testing {
namespace {

class NnunetLargestComponent : public ReferenceTest {};

// Labels 0-3 in random blobs: a label map with many components of every label, some touching only at
// edges or corners (which full connectivity joins).
Array4 BlobLabels(const Shape3& shape, uint32_t seed) {
  Array4 labels(1, shape);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> label(1, 3), position(0, 1 << 20), radius(0, 2);
  for (int blob = 0; blob < 60; ++blob) {
    const int value = label(rng), r = radius(rng);
    const Shape3 centre{position(rng) % shape[0], position(rng) % shape[1], position(rng) % shape[2]};
    for (int64_t i = std::max<int64_t>(0, centre[0] - r); i <= std::min(shape[0] - 1, centre[0] + r); ++i)
      for (int64_t j = std::max<int64_t>(0, centre[1] - r); j <= std::min(shape[1] - 1, centre[1] + r); ++j)
        for (int64_t k = std::max<int64_t>(0, centre[2] - r); k <= std::min(shape[2] - 1, centre[2] + r); ++k)
          labels.At(0, i, j, k) = static_cast<float>(value);
  }
  return labels;
}

LabelImage::Pointer ImageOf(const Array4& labels) {
  // ITK's x is the array's last axis; the order does not matter to connectivity.
  auto image = LabelImage::New();
  LabelImage::SizeType size;
  for (int a = 0; a < 3; ++a) size[a] = static_cast<itk::SizeValueType>(labels.Shape()[2 - a]);
  image->SetRegions(size);
  image->Allocate();
  std::transform(labels.Values().begin(), labels.Values().end(), image->GetBufferPointer(),
                 [](float v) { return static_cast<uint8_t>(v); });
  return image;
}

TEST_F(NnunetLargestComponent, MatchesScipyLabelWithFullConnectivity) {
  const Shape3 shape{18, 23, 20};
  const Array4 labels = BlobLabels(shape, 7);
  const std::vector<std::vector<int>> steps{{1, 2, 3}, {2}, {1, 3}, {3}};
  for (size_t s = 0; s < steps.size(); ++s)
    jobs_.push_back({{"op", "largest_component"}, {"name", "kept" + std::to_string(s)},
                     {"input", Save("labels", labels)}, {"labels", steps[s]}});
  const nlohmann::json results = Run();
  for (size_t s = 0; s < steps.size(); ++s) {
    const std::string name = "kept" + std::to_string(s);
    ASSERT_TRUE(results.contains(name)) << name;
    EXPECT_GT(results[name]["components"].get<int>(), 1) << "step " << s << " has one component: nothing to remove";
    auto image = ImageOf(labels);
    KeepLargestComponent(*image, steps[s]);
    const Array4 expected = Load(name);
    int64_t differing = 0, removed = 0;
    for (size_t i = 0; i < expected.Values().size(); ++i) {
      differing += image->GetBufferPointer()[i] != static_cast<uint8_t>(expected.Values()[i]);
      removed += image->GetBufferPointer()[i] != static_cast<uint8_t>(labels.Values()[i]);
    }
    EXPECT_EQ(differing, 0) << "step " << s;
    EXPECT_GT(removed, 0) << "step " << s << " removed nothing";
  }
}

TEST_F(NnunetLargestComponent, KeepsEveryComponentThatTiesForTheLargest) {
  Array4 labels(1, {5, 5, 9});
  for (int64_t k : {0, 1, 6, 7}) labels.At(0, 2, 2, k) = 1;  // two components of 2 voxels
  labels.At(0, 0, 0, 4) = 1;                                   // one of 1 voxel
  auto image = ImageOf(labels);
  KeepLargestComponent(*image, {1});
  int64_t kept = 0;
  for (size_t i = 0; i < labels.Values().size(); ++i) kept += image->GetBufferPointer()[i] == 1;
  EXPECT_EQ(kept, 4);
  EXPECT_EQ(image->GetPixel({{4, 0, 0}}), 0);
}

}  // namespace
}  // namespace medpipe::nnunet::testing
