#include "medpipe/preprocess/preprocess.h"

#include <gtest/gtest.h>
#include <itkImageRegionIteratorWithIndex.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "image_support.h"
#include "medpipe/core/error.h"

namespace medpipe::preprocess {
namespace {

using Normalisation = model::Normalisation;
using testing::Identity;
using testing::Point;
using testing::Spacing;

// Axes along -z, +x, -y, turned 20 degrees about z and about x: every axis is oblique, each still has
// a clear closest patient axis, and reaching RAS or LPS permutes and flips them.
Image3D::DirectionType ObliqueDirection() {
  Image3D::DirectionType base;
  base.Fill(0);
  base[2][0] = -1, base[0][1] = 1, base[1][2] = -1;  // columns (0,0,-1), (1,0,0), (0,-1,0)
  return testing::Rotation(20, 20) * base;
}

// Extents 14 x 17.6 x 24 mm.
Image3D::Pointer ObliqueImage() {
  return MakeImage({{20, 16, 8}}, Spacing(0.7, 1.1, 3.0), Point(-31.5, 12.25, 47), ObliqueDirection());
}

void Fill(Image3D& image, const std::function<float(const Image3D::IndexType&, const Image3D::PointType&)>& value) {
  for (itk::ImageRegionIteratorWithIndex<Image3D> it(&image, image.GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    Image3D::PointType point;
    image.TransformIndexToPhysicalPoint(it.GetIndex(), point);
    it.Set(value(it.GetIndex(), point));
  }
}

std::vector<float> Values(const Image3D& image) {
  const auto count = image.GetBufferedRegion().GetNumberOfPixels();
  return {image.GetBufferPointer(), image.GetBufferPointer() + count};
}

// Ct with a clip no value reaches, mean 0 and std 1: intensities pass unchanged.
Normalisation Unchanged() {
  Normalisation normalisation;
  normalisation.scheme = Normalisation::Scheme::Ct;
  normalisation.lower = -1e9;
  normalisation.upper = 1e9;
  return normalisation;
}

Spec SpecWith(const std::string& orientation, const Normalisation& normalisation = Unchanged()) {
  Spec spec;
  spec.orientation = orientation;
  spec.normalisation = normalisation;
  return spec;
}

// Whether POINT lies within the box of IMAGE's outermost voxel centres, where linear interpolation
// of a linear function is exact.
bool InsideCentres(const Image3D& image, const Image3D::PointType& point) {
  const auto index = image.TransformPhysicalPointToContinuousIndex<double>(point);
  const auto& size = image.GetLargestPossibleRegion().GetSize();
  for (unsigned a = 0; a < 3; ++a) {
    if (index[a] < -1e-9 || index[a] > static_cast<double>(size[a] - 1) + 1e-9) return false;
  }
  return true;
}

// The middle of the block of voxels FIRST..LAST (inclusive), by default the whole image.
Image3D::PointType Centre(const Image3D& image, Image3D::IndexType first = {{0, 0, 0}},
                          Image3D::IndexType last = {{-1, -1, -1}}) {
  itk::ContinuousIndex<double, 3> middle;
  for (unsigned a = 0; a < 3; ++a) {
    if (last[a] < 0) last[a] = static_cast<Image3D::IndexValueType>(image.GetLargestPossibleRegion().GetSize()[a]) - 1;
    middle[a] = (first[a] + last[a]) / 2.0;
  }
  Image3D::PointType point;
  image.TransformContinuousIndexToPhysicalPoint(middle, point);
  return point;
}

double MaxAbsDifference(const Image3D& a, const Image3D& b) {
  const auto va = Values(a), vb = Values(b);
  EXPECT_EQ(va.size(), vb.size());
  double worst = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) worst = std::max(worst, std::abs(double{va[i]} - vb[i]));
  return worst;
}

TEST(DirectionForTest, ColumnsPointTowardsTheNamedSide) {
  const auto ras = DirectionFor("RAS");
  const double expected[3][3] = {{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) EXPECT_EQ(ras[i][j], expected[i][j]) << i << "," << j;
  }
  const auto pil = DirectionFor("PIL");  // axis 0 -> +y, axis 1 -> -z, axis 2 -> +x
  EXPECT_EQ(pil[1][0], 1);
  EXPECT_EQ(pil[2][1], -1);
  EXPECT_EQ(pil[0][2], 1);
  for (const char* bad : {"RAX", "RRS", "RA", "RASL", "ras"}) {
    EXPECT_THROW(DirectionFor(bad), ConfigError) << bad;
  }
}

TEST(PrepareTest, ReorientingAnObliqueAnisotropicImageKeepsEveryValueAtItsPoint) {
  const auto source = ObliqueImage();
  Fill(*source, [](const Image3D::IndexType& i, const Image3D::PointType&) {
    return static_cast<float>(i[0] + 100 * i[1] + 10000 * i[2]);
  });
  for (const std::string code : {"RAS", "LPS"}) {
    SCOPED_TRACE(code);
    const Volume prepared = Prepare(Volume{{source}}, SpecWith(code));
    ASSERT_EQ(prepared.channels.size(), 1U);
    const Image3D& out = prepared.Grid();
    EXPECT_EQ(out.GetLargestPossibleRegion().GetIndex(), (Image3D::IndexType{{0, 0, 0}}));
    EXPECT_EQ(out.GetLargestPossibleRegion().GetSize(), (Image3D::SizeType{{16, 8, 20}}));  // axes permuted
    // Still oblique, but each axis now runs closest to the one the code names.
    const auto wanted = DirectionFor(code);
    for (unsigned j = 0; j < 3; ++j) {
      for (unsigned i = 0; i < 3; ++i) {
        if (wanted[i][j] != 0) {
          EXPECT_GT(out.GetDirection()[i][j] * wanted[i][j], 0.85) << i << "," << j;
        }
      }
    }
    for (itk::ImageRegionConstIteratorWithIndex<Image3D> it(&out, out.GetLargestPossibleRegion()); !it.IsAtEnd();
         ++it) {
      Image3D::PointType point;
      out.TransformIndexToPhysicalPoint(it.GetIndex(), point);
      Image3D::IndexType at;
      ASSERT_TRUE(source->TransformPhysicalPointToIndex(point, at));
      ASSERT_EQ(it.Get(), source->GetPixel(at)) << it.GetIndex();
    }
    EXPECT_LT(MaxAbsDifference(*MapBack(out, *source), *source), 1e-5);
  }
}

TEST(PrepareTest, ResampleAndPadOfAnObliqueAnisotropicImageIsExactForALinearFunction) {
  const auto source = ObliqueImage();
  const auto f = [](const Image3D::PointType& p) { return 0.05 * p[0] - 0.03 * p[1] + 0.02 * p[2] + 1.5; };
  Fill(*source, [&f](const Image3D::IndexType&, const Image3D::PointType& p) { return static_cast<float>(f(p)); });
  Spec spec = SpecWith("RAS");
  spec.spacing_mm = {1.5, 1.5, 1.5};
  spec.min_size = {20, 16, 32};
  const Volume prepared = Prepare(Volume{{source}}, spec);
  const Image3D& model = prepared.Grid();

  // RAS extents 17.6 x 24 x 14 mm -> 12 x 16 x 9 voxels of 1.5 mm, then x padded 4 + 4, z 11 + 12.
  EXPECT_EQ(model.GetLargestPossibleRegion().GetSize(), (Image3D::SizeType{{20, 16, 32}}));
  EXPECT_EQ(model.GetSpacing(), Spacing(1.5, 1.5, 1.5));
  // The resampled block (before padding) is centred on the source.
  EXPECT_LT(Centre(model, {{4, 0, 11}}, {{15, 15, 19}}).EuclideanDistanceTo(Centre(*source)), 1e-9);
  // Model voxels with centres inside the source's outermost centres form a box (the axes are shared).
  Image3D::IndexType first{{99, 99, 99}}, last{{-1, -1, -1}};
  size_t inside = 0, padding = 0;
  for (itk::ImageRegionConstIteratorWithIndex<Image3D> it(&model, model.GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it) {
    const auto i = it.GetIndex();
    Image3D::PointType point;
    model.TransformIndexToPhysicalPoint(i, point);
    if (i[0] < 4 || i[0] >= 16 || i[2] < 11 || i[2] >= 20) {
      ++padding;
      ASSERT_EQ(it.Get(), 0.0F) << i;
    } else if (InsideCentres(*source, point)) {
      ++inside;
      ASSERT_NEAR(it.Get(), f(point), 1e-3) << i;
      for (unsigned a = 0; a < 3; ++a) {
        first[a] = std::min(first[a], i[a]);
        last[a] = std::max(last[a], i[a]);
      }
    }
  }
  EXPECT_EQ(padding, 20U * 16 * 32 - 12 * 16 * 9);
  EXPECT_GT(inside, 1000U);

  // Back on the source grid, exact wherever the model voxels around a point all held f.
  const auto back = MapBack(model, *source);
  EXPECT_EQ(back->GetLargestPossibleRegion(), source->GetLargestPossibleRegion());
  size_t checked = 0;
  for (itk::ImageRegionConstIteratorWithIndex<Image3D> it(back, back->GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it) {
    Image3D::PointType point;
    back->TransformIndexToPhysicalPoint(it.GetIndex(), point);
    const auto at = model.TransformPhysicalPointToContinuousIndex<double>(point);
    bool rim = false;
    for (unsigned a = 0; a < 3; ++a) rim = rim || at[a] < first[a] - 1e-9 || at[a] > last[a] + 1e-9;
    if (rim) continue;
    ++checked;
    ASSERT_NEAR(it.Get(), f(point), 1e-3) << it.GetIndex();
  }
  EXPECT_GT(checked, 1000U);
}

TEST(PrepareTest, PaddingCentresTheImageWithZeros) {
  const auto source = MakeImage({{3, 4, 2}}, Spacing(1.0, 2.0, 3.0), Point(10, 20, 30), Identity());
  const auto value = [](const Image3D::IndexType& i) { return static_cast<float>(1 + i[0] + 10 * i[1] + 100 * i[2]); };
  Fill(*source, [&value](const Image3D::IndexType& i, const Image3D::PointType&) { return value(i); });
  Spec spec = SpecWith("");
  spec.min_size = {6, 5, 2};
  const Volume prepared = Prepare(Volume{{source}}, spec);
  const Image3D& padded = prepared.Grid();

  // x: 3 more voxels, 1 before and 2 after; y: 1 more, after; z: none.
  ASSERT_EQ(padded.GetLargestPossibleRegion().GetSize(), (Image3D::SizeType{{6, 5, 2}}));
  EXPECT_EQ(padded.GetLargestPossibleRegion().GetIndex(), (Image3D::IndexType{{0, 0, 0}}));
  EXPECT_EQ(padded.GetOrigin()[0], 9.0);
  EXPECT_EQ(padded.GetOrigin()[1], 20.0);
  EXPECT_EQ(padded.GetOrigin()[2], 30.0);
  for (itk::ImageRegionConstIteratorWithIndex<Image3D> it(&padded, padded.GetLargestPossibleRegion()); !it.IsAtEnd();
       ++it) {
    const auto i = it.GetIndex();
    const Image3D::IndexType original{{i[0] - 1, i[1], i[2]}};
    if (source->GetLargestPossibleRegion().IsInside(original)) {
      EXPECT_NEAR(it.Get(), value(original), 1e-5) << i;
    } else {
      EXPECT_EQ(it.Get(), 0.0F) << i;
    }
  }
}

TEST(PrepareTest, ClassificationResizeKeepsThePhysicalExtent) {
  const auto source = MakeImage({{10, 8, 4}}, Spacing(0.5, 0.7, 2.0), Point(3, -4, 5), ObliqueDirection());
  Fill(*source, [](const Image3D::IndexType&, const Image3D::PointType& p) { return static_cast<float>(p[0]); });
  model::Manifest manifest;
  manifest.task = model::Task::Classification;
  manifest.patch_size = {4, 5, 6};
  manifest.normalisation = Unchanged();
  const Spec spec = SpecFor(manifest);
  ASSERT_TRUE(spec.size.has_value());
  EXPECT_FALSE(spec.spacing_mm.has_value());
  const Volume prepared = Prepare(Volume{{source}}, spec);
  const Image3D& resized = prepared.Grid();

  EXPECT_EQ(resized.GetLargestPossibleRegion().GetSize(), (Image3D::SizeType{{4, 5, 6}}));
  for (unsigned a = 0; a < 3; ++a) {
    const double source_extent = source->GetLargestPossibleRegion().GetSize()[a] * source->GetSpacing()[a];
    EXPECT_NEAR(resized.GetLargestPossibleRegion().GetSize()[a] * resized.GetSpacing()[a], source_extent, 1e-12);
  }
  EXPECT_LT(Centre(resized).EuclideanDistanceTo(Centre(*source)), 1e-9);
}

TEST(SpecForTest, SegmentationResamplesAndPadsToThePatch) {
  model::Manifest manifest;
  manifest.task = model::Task::Segmentation;
  manifest.orientation = "RAS";
  manifest.spacing_mm = std::array<double, 3>{0.8, 0.8, 2.5};
  manifest.patch_size = {96, 96, 32};
  manifest.interpolation = model::Interpolation::BSpline;
  manifest.normalisation.scheme = Normalisation::Scheme::Percentile;
  const Spec spec = SpecFor(manifest);
  EXPECT_EQ(spec.orientation, "RAS");
  EXPECT_EQ(spec.spacing_mm, manifest.spacing_mm);
  EXPECT_FALSE(spec.size.has_value());
  EXPECT_EQ(spec.min_size, manifest.patch_size);
  EXPECT_EQ(spec.interpolation, model::Interpolation::BSpline);
  EXPECT_EQ(spec.normalisation.scheme, Normalisation::Scheme::Percentile);
}

// Values 1..8 on a 4 x 2 x 1 grid: mean 4.5, population std sqrt(5.25).
Image3D::Pointer OneToEight() {
  const auto image = MakeImage({{4, 2, 1}}, Spacing(0.5, 0.5, 1.0), Point(0, 0, 0), Identity());
  Fill(*image, [](const Image3D::IndexType& i, const Image3D::PointType&) {
    return static_cast<float>(1 + i[0] + 4 * i[1]);
  });
  return image;
}

std::vector<float> Normalised(const std::vector<Image3D::Pointer>& channels, const Normalisation& normalisation,
                              size_t channel = 0) {
  return Values(*Prepare(Volume{channels}, SpecWith("", normalisation)).channels.at(channel));
}

void ExpectEach(const std::vector<float>& actual, const std::function<double(double)>& expected) {
  ASSERT_EQ(actual.size(), 8U);
  for (int x = 1; x <= 8; ++x) EXPECT_NEAR(actual[x - 1], expected(x), 1e-6) << "x = " << x;
}

TEST(NormaliseTest, EachSchemeGivesTheDocumentedNumbers) {
  const auto image = OneToEight();
  Normalisation ct;
  ct.scheme = Normalisation::Scheme::Ct;
  ct.lower = 2, ct.upper = 6, ct.mean = 3, ct.std = 2;
  ExpectEach(Normalised({image}, ct), [](double x) { return (std::clamp(x, 2.0, 6.0) - 3) / 2; });

  Normalisation zscore;
  zscore.scheme = Normalisation::Scheme::ZScore;
  ExpectEach(Normalised({image}, zscore), [](double x) { return (x - 4.5) / std::sqrt(5.25); });

  // numpy.percentile([1..8], 25) = 1 + 0.25 * 7 = 2.75; 75th = 6.25.
  Normalisation percentile;
  percentile.scheme = Normalisation::Scheme::Percentile;
  percentile.lower = 25, percentile.upper = 75;
  ExpectEach(Normalised({image}, percentile), [](double x) { return (std::clamp(x, 2.75, 6.25) - 2.75) / 3.5; });

  Normalisation minmax;
  minmax.scheme = Normalisation::Scheme::MinMax;
  ExpectEach(Normalised({image}, minmax), [](double x) { return (x - 1) / 7; });
}

TEST(NormaliseTest, ConstantImagesBecomeZero) {
  const auto image = OneToEight();
  image->FillBuffer(7);
  for (const auto scheme :
       {Normalisation::Scheme::ZScore, Normalisation::Scheme::MinMax, Normalisation::Scheme::Percentile}) {
    Normalisation normalisation;
    normalisation.scheme = scheme;
    normalisation.upper = 100;
    ExpectEach(Normalised({image}, normalisation), [](double) { return 0.0; });
  }
}

TEST(NormaliseTest, ColourUsesOneRangeOverAllChannels) {
  const auto red = OneToEight(), green = OneToEight(), blue = OneToEight();
  green->FillBuffer(0);
  blue->FillBuffer(16);
  Normalisation minmax;
  minmax.scheme = Normalisation::Scheme::MinMax;
  ExpectEach(Normalised({red, green, blue}, minmax, 0), [](double x) { return x / 16; });
  ExpectEach(Normalised({red, green, blue}, minmax, 2), [](double) { return 1.0; });
}

TEST(PrepareTest, TwoDimensionalImageKeepsItsSingleSlice) {
  const auto image = OneToEight();
  image->FillBuffer(5);
  Spec spec = SpecWith("RAS");
  spec.spacing_mm = {1.0, 1.0, 2.0};
  spec.interpolation = model::Interpolation::BSpline;
  const Volume prepared = Prepare(Volume{{image}}, spec);
  const Image3D& out = prepared.Grid();
  EXPECT_EQ(out.GetLargestPossibleRegion().GetSize(), (Image3D::SizeType{{2, 1, 1}}));
  EXPECT_EQ(out.GetSpacing(), Spacing(1.0, 1.0, 1.0));
  for (float v : Values(out)) EXPECT_NEAR(v, 5.0, 1e-4);
}

TEST(PrepareTest, RejectsUnusableSpecs) {
  const auto image = OneToEight();
  Spec bad_spacing = SpecWith("RAS");
  bad_spacing.spacing_mm = {1.0, 0.0, 1.0};
  EXPECT_THROW(Prepare(Volume{{image}}, bad_spacing), ConfigError);
  Spec bad_size = SpecWith("");
  bad_size.size = {4, 0, 1};
  EXPECT_THROW(Prepare(Volume{{image}}, bad_size), ConfigError);
  Spec bad_padding = SpecWith("");
  bad_padding.min_size = {4, -1, 1};
  EXPECT_THROW(Prepare(Volume{{image}}, bad_padding), ConfigError);
  EXPECT_THROW(Prepare(Volume{{image}}, SpecWith("XYZ")), ConfigError);
  EXPECT_THROW(Prepare(Volume{}, SpecWith("")), Error);
}

}  // namespace
}  // namespace medpipe::preprocess
