// The review copies and the batch that tests/report/viewer_test.mjs opens in Chromium.
#include <gtest/gtest.h>
#include <itkNiftiImageIO.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <regex>

#include "image_support.h"
#include "medpipe/core/files.h"
#include "medpipe/report/html_report.h"
#include "medpipe/report/review_copy.h"
#include "medpipe/volume_io/nifti_io.h"
#include "test_support.h"

namespace medpipe::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

itk::IOComponentEnum StoredType(const fs::path& path) {
  auto io = itk::NiftiImageIO::New();
  io->SetFileName(path.string());
  io->ReadImageInformation();
  return io->GetComponentType();
}

// The outer corner of voxel (0, 0, k) and (last, last, k), mm LPS.
std::pair<Image3D::PointType, Image3D::PointType> InPlaneCorners(const Image3D& image) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  itk::ContinuousIndex<double, 3> first, last;
  first.Fill(-0.5);
  last[0] = size[0] - 0.5, last[1] = size[1] - 0.5, last[2] = -0.5;
  Image3D::PointType a, b;
  image.TransformContinuousIndexToPhysicalPoint(first, a);
  image.TransformContinuousIndexToPhysicalPoint(last, b);
  return {a, b};
}

class ReviewCopyTest : public testing::TempDirTest {};

TEST_F(ReviewCopyTest, LargeImageIsReducedInPlaneToInt16WithItsCornersKept) {
  // 1024 x 600 columns and rows of 0.5 mm: 512 x 300 of 1 mm over the same 512 x 300 mm; slices untouched.
  auto image = MakeImage({{1024, 600, 3}}, testing::Spacing(0.5, 0.5, 3), testing::Point(-100, 50, 20),
                         testing::Rotation(20, 10));
  float* voxels = image->GetBufferPointer();
  for (size_t i = 0; i < image->GetPixelContainer()->Size(); ++i) voxels[i] = float(i % 1024) * 100.25f - 30000;
  const fs::path path = dir_ / "review.nii.gz";
  WriteReviewImage(*image, path);
  EXPECT_EQ(StoredType(path), itk::IOComponentEnum::SHORT);
  const auto review = ReadNifti(path);
  const auto size = review->GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(size[0], 512U);
  EXPECT_EQ(size[1], 300U);
  EXPECT_EQ(size[2], 3U);
  EXPECT_NEAR(review->GetSpacing()[0], 1.0, 1e-6);
  EXPECT_NEAR(review->GetSpacing()[2], 3.0, 1e-6);
  const auto [a, b] = InPlaneCorners(*image);
  const auto [c, d] = InPlaneCorners(*review);
  EXPECT_LT(a.EuclideanDistanceTo(c), 1e-3);
  EXPECT_LT(b.EuclideanDistanceTo(d), 1e-3);
  for (unsigned i = 0; i < 3; ++i)
    for (unsigned j = 0; j < 3; ++j) EXPECT_NEAR(review->GetDirection()(i, j), image->GetDirection()(i, j), 1e-5);
  // Clamped to int16 at the top of the row (1023 * 100.25 - 30000 = 72555.75).
  itk::Index<3> end{{511, 0, 0}};
  EXPECT_EQ(review->GetPixel(end), 32767.0f);
}

TEST_F(ReviewCopyTest, SmallImageKeepsItsGridAndRoundedValues) {
  auto image = MakeImage({{4, 3, 2}}, testing::Spacing(0.8, 0.8, 2), testing::Point(1, 2, 3), testing::Identity());
  image->FillBuffer(-1024.4f);
  WriteReviewImage(*image, dir_ / "small.nii.gz");
  const auto review = ReadNifti(dir_ / "small.nii.gz");
  EXPECT_EQ(review->GetLargestPossibleRegion().GetSize(), image->GetLargestPossibleRegion().GetSize());
  EXPECT_NEAR(review->GetOrigin().EuclideanDistanceTo(image->GetOrigin()), 0, 1e-4);
  EXPECT_EQ(review->GetPixel({{3, 2, 1}}), -1024.0f);
}

// The nnU-Net hippocampus model (../shared/data, fold 0) imported into FOLDER, so that the hippocampus
// series gets a second segmentation; empty without the shared data.
std::string SecondHippocampusModel(const fs::path& folder) {
  const fs::path results = fs::path(MEDPIPE_SHARED_DATA) / "nnunet/Dataset501_Hippocampus/model/Dataset501_Hippocampus";
  if (!fs::is_directory(results)) return "";
  const std::string import = std::string(MEDPIPE_BINARY) + " model import nnunet " + results.string() + " --out " +
                             folder.string() + " --folds 0 >/dev/null 2>&1";
  EXPECT_EQ(std::system(import.c_str()), 0) << import;
  return " --model " + folder.string();
}

// sample_data run with the shipped models (and, with the shared data, a second hippocampus model) into
// MEDPIPE_VIEWER_BATCH; the pipeline writes the review copies of the segmented series and the X-rays
// (with their heat maps); the other volume series (CT) gets one here from `medpipe convert`, and the
// synthetic MR one turned 20 degrees so that its page must say it is oblique; then the report is rewritten.
TEST(ViewerBatch, SampleDataPagesCarryTheViewer) {
  const fs::path batch = MEDPIPE_VIEWER_BATCH, source = MEDPIPE_SOURCE_DIR;
  fs::remove_all(batch);
  fs::create_directories(batch);
  const std::string second = SecondHippocampusModel(batch / "hippocampus-nnunet");
  if (second.empty()) std::cout << "no ../shared/data/nnunet: the hippocampus series gets one segmentation\n";
  const std::string models = " --model " + (source / "models/hippocampus").string() + second + " --model " +
                             (source / "models/pneumonia").string();
  // ReviewSendReviewedOnly runs the signed-off batch again with these: other models would redo its studies.
  WriteFileAtomically(batch / "model_options.txt", models);
  const std::string run = std::string(MEDPIPE_BINARY) + " run " + (source / "sample_data").string() + " " +
                          (batch / "out").string() + models + " 2>" + (batch / "run.log").string();
  const std::string convert = std::string(MEDPIPE_BINARY) + " convert " + (source / "sample_data").string() + " " +
                              (batch / "nifti").string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(run.c_str()), 0) << ReadFile(batch / "run.log");
  ASSERT_EQ(std::system(convert.c_str()), 0);

  int xrays = 0;
  float hottest = 0;
  for (const auto& entry : fs::directory_iterator(batch / "out" / "studies")) {
    const json result = json::parse(ReadFile(entry.path() / "result.json"));
    for (const auto& series : result["series"]) {
      if (series.value("kind", "") != "projection") continue;
      ++xrays;
      ASSERT_TRUE(series.contains("review_image")) << series.dump();
      EXPECT_EQ(StoredType(entry.path() / series["review_image"].get<std::string>()), itk::IOComponentEnum::SHORT);
      for (const auto& analysis : series["analyses"]) {
        if (!analysis.contains("decision")) continue;
        // The heat map's review copy: thousandths (0..1000) on the X-ray's review grid.
        const auto heat = ReadNifti(entry.path() / analysis["outputs"]["heatmap_review"].get<std::string>());
        const auto image = ReadNifti(entry.path() / series["review_image"].get<std::string>());
        EXPECT_EQ(heat->GetLargestPossibleRegion().GetSize(), image->GetLargestPossibleRegion().GetSize());
        const float* values = heat->GetBufferPointer();
        const auto [low, high] = std::minmax_element(values, values + heat->GetPixelContainer()->Size());
        EXPECT_GE(*low, 0.0f);
        EXPECT_LE(*high, kHeatmapReviewScale);
        hottest = std::max(hottest, *high);
      }
    }
  }
  EXPECT_EQ(xrays, 3);  // dx and the two PneumoniaMNIST images
  EXPECT_GT(hottest, 0.5f * kHeatmapReviewScale) << "no heat map has any heat";

  int volumes = 0;
  for (const auto& entry : fs::directory_iterator(batch / "out" / "studies")) {
    const fs::path result_path = entry.path() / "result.json";
    json result = json::parse(ReadFile(result_path));
    for (auto& series : result["series"]) {
      const bool phantom = series.value("description", "") == "Synthetic T1 head phantom";
      if (series.value("kind", "") != "volume" || (series.contains("review_image") && !phantom)) continue;
      const std::string stem = std::to_string(series["series_number"].get<int>()) + "_" + series["id"].get<std::string>();
      auto image = ReadNifti(batch / "nifti" / entry.path().filename() / (stem + ".nii.gz"));
      if (phantom) image->SetDirection(testing::Rotation(0, 20));
      WriteReviewImage(*image, entry.path() / (stem + "_review.nii.gz"));
      series["review_image"] = stem + "_review.nii.gz";
      ++volumes;
    }
    WriteFileAtomically(result_path, result.dump(2));
  }
  EXPECT_EQ(volumes, 2);  // ct, and mr (turned, even where the second model segmented it)
  EXPECT_EQ(WriteHtmlReport(batch / "out"), 6U);

  EXPECT_TRUE(fs::is_regular_file(batch / "out" / "viewer" / "niivue.js")) << "npm ci (scripts/setup.sh) has not run";
  int viewers = 0;
  for (const auto& entry : fs::directory_iterator(batch / "out" / "report")) {
    if (entry.path().extension() != ".html") continue;
    const std::string page = ReadFile(entry.path());
    const std::smatch csp = [&] {
      std::smatch match;
      std::regex_search(page, match, std::regex("Content-Security-Policy\" content=\"[^\"]*(script-src [^;]*);"));
      return match;
    }();
    ASSERT_FALSE(csp.empty());
    EXPECT_EQ(csp[1].str().find("unsafe"), std::string::npos) << csp[1];
    if (page.find("class=\"viewer\"") == std::string::npos) {
      EXPECT_EQ(csp[1].str().find("'self'"), std::string::npos) << "a page without a viewer loads no script file";
      continue;
    }
    ++viewers;
    EXPECT_NE(page.find("<script src=\"../viewer/niivue.js\"></script>"), std::string::npos);
    EXPECT_NE(csp[1].str().find("'self'"), std::string::npos) << csp[1];
  }
  EXPECT_EQ(viewers, 6);  // ct, mr, hippocampus and the three X-rays
}

}  // namespace
}  // namespace medpipe::report
