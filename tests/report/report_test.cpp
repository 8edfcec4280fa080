#include <gtest/gtest.h>
#include <itkImageRegionIteratorWithIndex.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <regex>
#include <set>
#include <sstream>

#include <sys/wait.h>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/core/study_result.h"
#include "medpipe/report/html_report.h"
#include "medpipe/report/overlay.h"
#include "image_support.h"
#include "test_support.h"

namespace medpipe::report {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::Identity;
using testing::Rotation;
using testing::Spacing;

const std::array<int, 3> kRed{255, 0, 0}, kGreen{0, 255, 0};
const cv::Vec3b kRedBgr(0, 0, 255), kGreenBgr(0, 255, 0);

Image3D::DirectionType FlipX(const Image3D::DirectionType& direction) {
  Image3D::DirectionType flip;
  flip.SetIdentity();
  flip(0, 0) = -1;
  return direction * flip;
}

// A volume of SIZE voxels of SPACING mm with its centre at the LPS origin.
Image3D::Pointer CentredImage(const Image3D::SizeType& size, const Image3D::SpacingType& spacing,
                              const Image3D::DirectionType& direction) {
  itk::Vector<double, 3> half;
  for (unsigned a = 0; a < 3; ++a) half[a] = -(double(size[a]) - 1) / 2 * spacing[a];
  Image3D::PointType origin;
  origin.Fill(0);
  origin += direction * half;
  return MakeImage(size, spacing, origin, direction);
}

struct Sphere {
  double x, y, z, radius;  // mm, LPS
  float intensity;
  uint8_t label;
};

// Patient left-anterior-superior (label 1) and right-posterior-inferior (label 2) spheres, placed in
// patient space whatever DIRECTION is, on a 120 mm cube of 1 x 1 x 2 mm voxels.
std::pair<Image3D::Pointer, LabelImage::Pointer> TwoSpheres(const Image3D::DirectionType& direction) {
  Image3D::SpacingType spacing;
  spacing[0] = 1, spacing[1] = 1, spacing[2] = 2;
  auto image = CentredImage({{120, 120, 60}}, spacing, direction);
  auto labels = LabelImage::New();
  labels->CopyInformation(image);
  labels->SetRegions(image->GetLargestPossibleRegion());
  labels->Allocate(true);
  const Sphere spheres[] = {{32, -12, 12, 25, 200, 1}, {-32, 12, -12, 25, 120, 2}};
  for (itk::ImageRegionIteratorWithIndex<Image3D> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    Image3D::PointType p;
    image->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    it.Set(20 + float(p[0] + p[1]) / 10);
    for (const auto& s : spheres) {
      if (std::hypot(p[0] - s.x, p[1] - s.y, p[2] - s.z) > s.radius) continue;
      it.Set(s.intensity);
      labels->SetPixel(it.GetIndex(), s.label);
    }
  }
  return {image, labels};
}

const std::vector<LegendEntry> kLegend = {{1, "lesion", kRed, "65.4 mL"}, {2, "edema", kGreen, "65.4 mL"}};

// Mean position of the pixels of COLOUR in REGION of PICTURE, and how many there are.
struct Spot {
  cv::Point2d mean;
  int count = 0;
};
Spot Find(const cv::Mat& picture, const cv::Rect& region, const cv::Vec3b& colour) {
  Spot spot;
  for (int y = region.y; y < region.y + region.height; ++y) {
    for (int x = region.x; x < region.x + region.width; ++x) {
      if (picture.at<cv::Vec3b>(y, x) != colour) continue;
      spot.mean += cv::Point2d(x, y);
      ++spot.count;
    }
  }
  if (spot.count) spot.mean /= spot.count;
  return spot;
}

class VolumeOverlayTest : public testing::TempDirTest {};

TEST_F(VolumeOverlayTest, ContoursLandInRadiologicalConventionWhateverTheDirection) {
  const struct {
    const char* name;
    Image3D::DirectionType direction;
    const char* modality;
  } cases[] = {{"identity", Rotation(0, 0), "MR"},
               {"x flipped", FlipX(Rotation(0, 0)), "CT"},
               {"oblique, x flipped", FlipX(Rotation(20, 10)), "MR"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const auto [image, labels] = TwoSpheres(c.direction);
    const fs::path png = dir_ / "overlay.png";
    WriteVolumeOverlay(*image, labels.GetPointer(), kLegend, c.modality, png);
    const cv::Mat picture = cv::imread(png.string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(picture.empty());
    EXPECT_EQ(picture.cols, 1200);
    // Three equal panels of a cube side by side; the legend's colour boxes sit left of x = 40.
    const int panel = picture.cols / 3;
    const cv::Rect axial(40, 0, panel - 40, picture.rows), coronal(panel, 0, panel, picture.rows);
    const Spot left_anterior = Find(picture, axial, kRedBgr), right_posterior = Find(picture, axial, kGreenBgr);
    ASSERT_GT(left_anterior.count, 50);
    ASSERT_GT(right_posterior.count, 50);
    // Patient left on the image right, anterior at the top.
    EXPECT_GT(left_anterior.mean.x, panel / 2);
    EXPECT_LT(right_posterior.mean.x, panel / 2);
    EXPECT_LT(left_anterior.mean.y, right_posterior.mean.y);
    // Coronal: patient left on the right, superior at the top.
    const Spot left_superior = Find(picture, coronal, kRedBgr), right_inferior = Find(picture, coronal, kGreenBgr);
    ASSERT_GT(left_superior.count, 50);
    ASSERT_GT(right_inferior.count, 50);
    EXPECT_GT(left_superior.mean.x, right_inferior.mean.x);
    EXPECT_LT(left_superior.mean.y, right_inferior.mean.y);
  }
}

TEST_F(VolumeOverlayTest, WithoutLabelsShowsTheCentreAndUnwritablePathThrowsIoError) {
  const auto [image, labels] = TwoSpheres(Rotation(0, 0));
  WriteVolumeOverlay(*image, nullptr, {}, "MR", dir_ / "plain.png");
  const cv::Mat picture = cv::imread((dir_ / "plain.png").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(picture.empty());
  EXPECT_EQ(picture.cols, 1200);
  EXPECT_EQ(Find(picture, {0, 0, picture.cols, picture.rows}, kRedBgr).count, 0);
  EXPECT_THROW(WriteVolumeOverlay(*image, labels.GetPointer(), kLegend, "MR", dir_ / "missing" / "x.png"), IoError);
}

cv::Rect Box(const MontageLayout::Text& text) { return {text.x, text.y, text.width, text.height}; }
cv::Rect Box(const MontageLayout::Panel& panel) { return {panel.x, panel.y, panel.width, panel.height}; }

// Every text of LAYOUT lies on PICTURE, apart from every other text, and outside every panel but its
// own side letters; each has drawn pixels (brighter than the black background where it lies outside).
void ExpectTextsApartAndDrawn(const cv::Mat& picture, const MontageLayout& layout) {
  const cv::Rect canvas(0, 0, picture.cols, picture.rows);
  for (size_t i = 0; i < layout.texts.size(); ++i) {
    const auto& text = layout.texts[i];
    SCOPED_TRACE(text.text);
    EXPECT_EQ(Box(text) & canvas, Box(text)) << "outside the picture";
    for (size_t j = i + 1; j < layout.texts.size(); ++j)
      EXPECT_EQ((Box(text) & Box(layout.texts[j])).area(), 0) << "overlaps '" << layout.texts[j].text << "'";
    const bool side_letter = text.text.size() == 1;
    int inside_panels = 0;
    for (const auto& panel : layout.panels) inside_panels += (Box(text) & Box(panel)) == Box(text);
    for (const auto& panel : layout.panels) {
      if (!side_letter) EXPECT_EQ((Box(text) & Box(panel)).area(), 0) << "over the " << panel.name << " plane";
    }
    EXPECT_EQ(inside_panels, side_letter ? 1 : 0);
    if (side_letter) continue;
    int lit = 0;
    const cv::Mat area = picture(Box(text) & canvas);
    for (int y = 0; y < area.rows; ++y)
      for (int x = 0; x < area.cols; ++x) lit += area.at<cv::Vec3b>(y, x)[0] + area.at<cv::Vec3b>(y, x)[1] + area.at<cv::Vec3b>(y, x)[2] > 200;
    EXPECT_GT(lit, 5) << "no text drawn";
  }
}

// A 20-slice CT as a thin run writes it: 512 x 512 x 20 voxels of 0.7 x 0.7 x 1 mm, 358 x 358 x 20 mm,
// a 6 mm ball labelled at its centre, and a legend of 40 labels. At one scale of millimetres across
// 1200 px the coronal and sagittal planes would be 21 px high (the old montage: a 1200 x 32 strip).
TEST_F(VolumeOverlayTest, TwentySliceCtGetsReadablePlanesAndTextsThatNeverOverlap) {
  auto image = CentredImage({{512, 512, 20}}, Spacing(0.7, 0.7, 1.0), Rotation(0, 0));
  auto labels = LabelImage::New();
  labels->CopyInformation(image);
  labels->SetRegions(image->GetLargestPossibleRegion());
  labels->Allocate(true);
  for (itk::ImageRegionIteratorWithIndex<Image3D> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    Image3D::PointType p;
    image->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    const bool ball = std::hypot(p[0], p[1], p[2]) <= 6;
    it.Set(ball ? 200.0F : float(-100 + std::fabs(p[0]) + std::fabs(p[1])));
    if (ball) labels->SetPixel(it.GetIndex(), 1);
  }
  std::vector<LegendEntry> legend = {{1, "nodule", kRed, "0.90 mL"}};
  for (int value = 2; value <= 40; ++value)
    legend.push_back({value, "structure number " + std::to_string(value) + " (long)", kGreen, "0.00 mL"});
  const fs::path png = dir_ / "ct20.png";
  const MontageLayout layout = WriteVolumeOverlay(*image, labels.GetPointer(), legend, "CT", png);
  const cv::Mat picture = cv::imread(png.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(picture.empty());
  EXPECT_EQ(picture.cols, 1200);
  EXPECT_EQ(picture.rows, layout.height);
  ASSERT_EQ(layout.panels.size(), 3U);
  EXPECT_EQ(layout.tilt_degrees, 0);

  // One scale: 1168 px over 3 x 358.4 mm, 1.0863 px/mm; the axial plane is true to size (389 px square),
  // the others 160 px high instead of 21.7: stretched 160 / 21.73 = 7.37 times.
  const auto& axial = layout.panels[0];
  EXPECT_EQ(axial.name, "axial");
  EXPECT_EQ(axial.width, 389);
  EXPECT_EQ(axial.height, 389);
  EXPECT_NEAR(axial.stretch, 1, 0.01);
  for (int view : {1, 2}) {
    const auto& panel = layout.panels[view];
    SCOPED_TRACE(panel.name);
    EXPECT_EQ(panel.height, 160);
    EXPECT_NEAR(panel.stretch, 7.37, 0.02);
    EXPECT_EQ((Box(panel) & Box(layout.panels[view - 1])).area(), 0);
    const std::string caption = panel.name + ", stretched 7.4x vertically";
    EXPECT_TRUE(std::any_of(layout.texts.begin(), layout.texts.end(), [&](const auto& t) { return t.text == caption; }))
        << caption;
    EXPECT_GT(Find(picture, Box(panel), kRedBgr).count, 20) << "the ball's contour";
  }
  EXPECT_EQ(layout.panels[1].name, "coronal");
  EXPECT_EQ(layout.panels[2].name, "sagittal");
  // Every legend entry is there, none cut off at the bottom.
  for (const auto& entry : legend)
    EXPECT_TRUE(std::any_of(layout.texts.begin(), layout.texts.end(),
                            [&](const auto& t) { return t.text.rfind(entry.name + " ", 0) == 0; }))
        << entry.name;
  ExpectTextsApartAndDrawn(picture, layout);
}

// A series acquired tilted 20 degrees about the patient's left-right axis: its montage names the
// acquisition's planes and says how far they are tilted, as the study page's viewer does.
TEST_F(VolumeOverlayTest, ObliqueSeriesNamesItsOwnPlanesUnderATiltWarning) {
  // The warning's amber (BGR 80, 200, 255), anti-aliased: red high, blue low, green well above zero.
  const auto amber = [](const cv::Mat& picture, const cv::Rect& region) {
    int count = 0;
    for (int y = region.y; y < region.y + region.height; ++y)
      for (int x = region.x; x < region.x + region.width; ++x) {
        const auto p = picture.at<cv::Vec3b>(y, x);
        count += p[2] > 200 && p[1] > 120 && p[0] < 130;
      }
    return count;
  };
  const auto joined = [](const MontageLayout& layout) {
    std::string text;
    for (const auto& line : layout.texts) text += line.text + "\n";
    return text;
  };
  {
    const auto [image, labels] = TwoSpheres(Rotation(0, 20));
    const MontageLayout layout = WriteVolumeOverlay(*image, labels.GetPointer(), kLegend, "MR", dir_ / "oblique.png");
    const cv::Mat picture = cv::imread((dir_ / "oblique.png").string(), cv::IMREAD_COLOR);
    ASSERT_FALSE(picture.empty());
    EXPECT_NEAR(layout.tilt_degrees, 20, 1e-6);
    std::vector<std::string> names;
    for (const auto& panel : layout.panels) names.push_back(panel.name);
    EXPECT_EQ(names, (std::vector<std::string>{"slice plane", "row plane", "column plane"}));
    std::string text = joined(layout);
    std::replace(text.begin(), text.end(), '\n', ' ');
    EXPECT_NE(text.find("Oblique series, tilted 20.0 degrees"), std::string::npos) << text;
    for (const char* plane : {"axial", "coronal", "sagittal"}) EXPECT_EQ(text.find(plane), std::string::npos) << plane;
    EXPECT_GT(amber(picture, {0, 0, picture.cols, layout.panels[0].y}), 100);
    ExpectTextsApartAndDrawn(picture, layout);
  }
  const auto [image, labels] = TwoSpheres(Rotation(0, 0.3));  // within the viewer's 0.5 degrees
  const MontageLayout layout = WriteVolumeOverlay(*image, labels.GetPointer(), kLegend, "MR", dir_ / "axial.png");
  const cv::Mat picture = cv::imread((dir_ / "axial.png").string(), cv::IMREAD_COLOR);
  EXPECT_EQ(layout.panels[0].name, "axial");
  EXPECT_EQ(joined(layout).find("Oblique"), std::string::npos);
  EXPECT_EQ(amber(picture, {0, 0, picture.cols, picture.rows}), 0);
  ExpectTextsApartAndDrawn(picture, layout);
}

// A 300 x 400 X-ray of 0.5 mm pixels, a gradient; its heat map is 0.8 over x 100-199, y 150-249.
std::pair<Image3D::Pointer, Image3D::Pointer> Xray() {
  auto image = CentredImage({{300, 400, 1}}, Spacing(0.5, 0.5, 0.5), Identity());
  auto heatmap = CentredImage({{300, 400, 1}}, Spacing(0.5, 0.5, 0.5), Identity());
  for (itk::ImageRegionIteratorWithIndex<Image3D> it(image, image->GetLargestPossibleRegion()); !it.IsAtEnd(); ++it) {
    const auto index = it.GetIndex();
    it.Set(float(index[0] + index[1]));
    const bool hot = index[0] >= 100 && index[0] < 200 && index[1] >= 150 && index[1] < 250;
    heatmap->SetPixel(index, hot ? 0.8F : 0.0F);
  }
  return {image, heatmap};
}

class XrayOverlayTest : public testing::TempDirTest {};

TEST_F(XrayOverlayTest, BannerCarriesTheTextAndTheHeatMapColoursOnlyWhereItIsHot) {
  const auto [image, heatmap] = Xray();
  const std::vector<std::string> lines = {"pneumonia-cnn: pneumonia 0.83 (threshold 0.50): positive", "second line"};
  WriteXrayOverlay(*image, lines, nullptr, dir_ / "plain.png");
  WriteXrayOverlay(*image, lines, heatmap.GetPointer(), dir_ / "heat.png");
  const cv::Mat plain = cv::imread((dir_ / "plain.png").string(), cv::IMREAD_COLOR);
  const cv::Mat heat = cv::imread((dir_ / "heat.png").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(plain.empty());
  ASSERT_EQ(plain.cols, heat.cols);
  ASSERT_GT(heat.rows, plain.rows + 40) << "the heat map's colour scale goes below the picture";
  // The scale's bar runs from JET's dark blue (0) to dark red (1) left to right, its numbers below it.
  const cv::Mat scale = heat.rowRange(plain.rows, heat.rows);
  int bar_row = -1;
  for (int y = 0; y < scale.rows && bar_row < 0; ++y)
    if (scale.at<cv::Vec3b>(y, 12)[0] > 100 && scale.at<cv::Vec3b>(y, 12)[2] < 30) bar_row = y;
  ASSERT_GE(bar_row, 0);
  const cv::Vec3b cold = scale.at<cv::Vec3b>(bar_row + 2, 11), hot = scale.at<cv::Vec3b>(bar_row + 2, 10 + 511);
  EXPECT_GT(cold[0], 100);  // BGR: blue
  EXPECT_LT(cold[2], 30);
  EXPECT_GT(hot[2], 100);   // red
  EXPECT_LT(hot[0], 30);
  // 400 rows of 0.5 mm fitted to 1000 px: 2.5 px per pixel, 750 px wide, under the banner.
  EXPECT_EQ(plain.cols, 750);
  const int banner = plain.rows - 1000;
  ASSERT_GE(banner, 2 * 20);
  const cv::Mat banner_area = plain.rowRange(0, banner);
  const cv::Vec3b background = banner_area.at<cv::Vec3b>(0, 0);
  int text_pixels = 0;
  for (int y = 0; y < banner; ++y)
    for (int x = 0; x < banner_area.cols; ++x) text_pixels += banner_area.at<cv::Vec3b>(y, x) != background;
  EXPECT_GT(text_pixels, 500);

  const auto at = [&](int x, int y) { return cv::Point(int(x * 2.5), banner + int(y * 2.5)); };
  EXPECT_NE(heat.at<cv::Vec3b>(at(150, 200)), plain.at<cv::Vec3b>(at(150, 200)));
  EXPECT_EQ(heat.at<cv::Vec3b>(at(20, 20)), plain.at<cv::Vec3b>(at(20, 20)));
  EXPECT_EQ(heat.at<cv::Vec3b>(at(280, 380)), plain.at<cv::Vec3b>(at(280, 380)));
  int changed = 0;
  for (int y = 160; y < 240; ++y)
    for (int x = 110; x < 190; ++x) changed += heat.at<cv::Vec3b>(at(x, y)) != plain.at<cv::Vec3b>(at(x, y));
  EXPECT_EQ(changed, 80 * 80);
}

// A run's output folder written by hand: three studies (CT with two labels and a skipped classifier;
// DX with a decision and a series that failed to load; NIfTI with a GPU fallback), overlays drawn by
// the functions above, and a hidden staging folder that must be ignored.
class BatchOutputTest : public testing::TempDirTest {
 protected:
  static constexpr const char* kCtStudy = "0123456789abcdef";
  static constexpr const char* kDxStudy = "fedcba9876543210";
  static constexpr const char* kNiftiStudy = "00aa11bb22cc33dd";
  static constexpr const char* kHostile = "<script>alert('x')</script>";
  static constexpr const char* kOddLabel = "edema, \"peri\"";

  void SetUp() override {
    TempDirTest::SetUp();
    const auto [image, labels] = TwoSpheres(FlipX(Rotation(20, 10)));
    const auto [xray, heatmap] = Xray();
    WriteVolumeOverlay(*image, labels.GetPointer(), kLegend, "CT", Folder(kCtStudy) / "2_ct_lesion-seg.png");
    WriteXrayOverlay(*xray, {"pneumonia 0.83 (threshold 0.50): positive"}, heatmap.GetPointer(),
                     Folder(kDxStudy) / "1_dx.png");
    WriteVolumeOverlay(*image, labels.GetPointer(), {kLegend[0]}, "", Folder(kNiftiStudy) / "nifti_lesion-seg.png");
    Write(kCtStudy, CtStudy());
    Write(kDxStudy, DxStudy());
    Write(kNiftiStudy, NiftiStudy());
    fs::create_directories(dir_ / "studies" / ".0000000000000000.staging-1");
    WriteFileAtomically(dir_ / "studies" / ".0000000000000000.staging-1" / "result.json", "{ half written");
  }

  fs::path Folder(const std::string& study) {
    fs::create_directories(dir_ / "studies" / study);
    return dir_ / "studies" / study;
  }

  void Write(const std::string& study, const json& result) {
    const fs::path path = Folder(study) / "result.json";
    WriteFileAtomically(path, result.dump(2));
    testing::ExpectValidResult(path);
  }

  static json Result(const std::string& id, const std::string& status, const std::string& kind, json series) {
    return {{"schema_version", 2},
            {"medpipe_version", "0.1.0"},
            {"study_id", id},
            {"study_instance_uid", "1.2.3." + id},
            {"status", status},
            {"source", {{"kind", kind}, {"files", 3}, {"files_sha256", std::string(64, 'a')}}},
            {"settings_sha256", std::string(64, 'b')},
            {"models", json::array()},
            {"series", std::move(series)},
            {"timings_ms", {{"total", 1234.5}}}};
  }

  static json Segmentation(const json& labels, const std::string& overlay) {
    return {{"model", "lesion-seg"}, {"version", "1.0"}, {"task", "segmentation"}, {"device", "cpu"},
            {"precision", "fp32"},   {"labels", labels},  {"outputs", {{"overlay", overlay}}}};
  }

  static json Label(int value, const std::string& name, double ml) {
    return {{"value", value}, {"name", name}, {"voxels", int(ml * 1000)}, {"volume_ml", ml}, {"components", 1}};
  }

  static json CtStudy() {
    json series = {{"id", "ct"}, {"series_number", 2}, {"modality", "CT"}, {"kind", "volume"},
                   {"loaded", true}, {"problems", json::array({"uneven_slice_spacing"})}, {"overlay", "2_ct_lesion-seg.png"}};
    json lesion = Label(1, "lesion", 12.4);
    lesion.update({{"normal_range_ml", {5, 10}},
                   {"surface_mm2", 30.5},
                   {"sphericity", 0.875},
                   {"centroid_mm", {-12.5, 40, 101.25}},
                   {"bounding_box", {{"first_voxel", {1, 2, 3}}, {"last_voxel", {4, 5, 6}}}},
                   {"intensity", {{"unit", "HU"}, {"mean", 101.5}, {"std", 4.25}, {"min", 80}, {"max", 120},
                                  {"p5", 90}, {"p25", 97}, {"median", 101}, {"p75", 106}, {"p95", 113.5}}}});
    series["analyses"] = json::array({Segmentation(json::array({lesion, Label(2, kOddLabel, 3.25)}), "2_ct_lesion-seg.png"),
                          {{"model", "pneumonia-cnn"}, {"version", "2.1"}, {"task", "classification"},
                           {"skipped", "model reads DX, series is CT"}}});
    return Result(kCtStudy, "ok", "dicom", json::array({series}));
  }

  static json DxStudy() {
    json xray = {{"id", "dx"}, {"series_number", 1}, {"modality", "DX"}, {"kind", "projection"}, {"loaded", true},
                 {"problems", json::array({kHostile})}, {"overlay", "1_dx.png"}};
    xray["analyses"] = json::array({{{"model", "pneumonia-cnn"}, {"version", "2.1"}, {"task", "classification"},
                         {"probabilities", {{"normal", 0.17}, {"pneumonia", 0.83}}},
                         {"decision", {{"class", "pneumonia"}, {"probability", 0.83}, {"threshold", 0.5},
                                       {"result", "positive"}, {"most_probable_class", "pneumonia"}}}},
                        {{"model", "lesion-seg"}, {"version", "1.0"}, {"task", "segmentation"},
                         {"skipped", "3-D model, series is a single image"}}});
    const json broken = {{"id", "mr"}, {"series_number", 5}, {"modality", "MR"}, {"kind", "volume"}, {"loaded", false},
                         {"problems", json::array({"missing_slices"})}, {"error", "missing_slices: gap of 2 slices at 40 mm"},
                         {"analyses", json::array()}};
    return Result(kDxStudy, "failed", "dicom", json::array({xray, broken}));
  }

  static json NiftiStudy() {
    json series = {{"id", "nifti"}, {"modality", ""}, {"kind", "nifti"}, {"loaded", true},
                   {"problems", json::array()}, {"overlay", "nifti_lesion-seg.png"}};
    json analysis = Segmentation(json::array({Label(1, "lesion", 9.5)}), "nifti_lesion-seg.png");
    analysis["fallbacks"] = json::array({"out of memory on cuda:0 at batch 2; batch 1"});
    series["analyses"] = json::array({analysis});
    json result = Result(kNiftiStudy, "ok", "nifti", json::array({series}));
    result["source"]["path"] = "/data/case 1.nii.gz";
    return result;
  }

  std::string Read(const fs::path& path) { return ReadFile(dir_ / path); }
};

// RFC 4180 records split on CRLF; a quoted field here holds no line break.
std::vector<std::string> Records(const std::string& csv) {
  std::vector<std::string> records;
  for (size_t start = 0, end; (end = csv.find("\r\n", start)) != std::string::npos; start = end + 2)
    records.push_back(csv.substr(start, end - start));
  return records;
}

TEST_F(BatchOutputTest, ResultsCsvHasARowPerLabelClassificationSkipAndFailedSeries) {
  // CT: 2 labels + 1 skipped; DX: 1 decision + 1 skipped + 1 failed series; NIfTI: 1 label.
  EXPECT_EQ(WriteResultsCsv(dir_), 7U);
  const auto records = Records(Read("results.csv"));
  ASSERT_EQ(records.size(), 8U);
  EXPECT_EQ(records[0],
            "study_id,study_instance_uid,series_id,modality,model,task,status,label_or_class,value,decision,threshold,reason,"
            "surface_mm2,sphericity,centroid_x_mm,centroid_y_mm,centroid_z_mm,intensity_unit,intensity_mean,intensity_std,"
            "intensity_min,intensity_max,intensity_p5,intensity_p25,intensity_median,intensity_p75,intensity_p95,normal_low_ml,"
            "normal_high_ml");
  const auto has = [&](const std::string& record) {
    return std::find(records.begin(), records.end(), record) != records.end();
  };
  const std::string no_features(17, ',');
  EXPECT_TRUE(has("0123456789abcdef,1.2.3.0123456789abcdef,ct,CT,lesion-seg,segmentation,ok,lesion,12.4,,,,"
                  "30.5,0.875,-12.5,40,101.25,HU,101.5,4.25,80,120,90,97,101,106,113.5,5.0,10.0"));
  EXPECT_TRUE(has(
      "0123456789abcdef,1.2.3.0123456789abcdef,ct,CT,lesion-seg,segmentation,ok,\"edema, \"\"peri\"\"\",3.25,,," + no_features));
  EXPECT_TRUE(has("0123456789abcdef,1.2.3.0123456789abcdef,ct,CT,pneumonia-cnn,classification,skipped,,,,,"
                  "\"model reads DX, series is CT\"" + no_features));
  EXPECT_TRUE(has("fedcba9876543210,1.2.3.fedcba9876543210,dx,DX,pneumonia-cnn,classification,ok,pneumonia,0.83,"
                  "positive,0.5," + no_features));
  EXPECT_TRUE(has("fedcba9876543210,1.2.3.fedcba9876543210,mr,MR,,,failed,,,,,missing_slices: gap of 2 slices at 40 mm" +
                  no_features));
  EXPECT_TRUE(has("00aa11bb22cc33dd,1.2.3.00aa11bb22cc33dd,nifti,,lesion-seg,segmentation,ok,lesion,9.5,,," + no_features));
}

// A localizer is left out by design, not failed; a study's own failures (no SR, no results at all)
// get a row each, with the reason, and the pages flag them alike.
TEST_F(BatchOutputTest, ResultsCsvAndPagesTellSeriesLeftOutByDesignFromFailuresAndListStudyFailures) {
  const std::string scout_problem = "localizer: scout image, left out of volumes";
  const json scout = {{"id", "scout"}, {"series_number", 1}, {"modality", "CT"}, {"kind", "localizer"}, {"loaded", false},
                      {"refused", true}, {"problems", {scout_problem}}, {"error", scout_problem}, {"analyses", json::array()}};
  json no_sr = Result("1111222233334444", "failed", "dicom", json::array({scout}));
  no_sr["sr_error"] = "sr.dcm: cannot set SpecificCharacterSet";
  Write("1111222233334444", no_sr);
  json crashed = Result("5555666677778888", "failed", "dicom", json::array());
  crashed["error"] = "the worker process died while processing this study: killed by signal 9";
  Write("5555666677778888", crashed);

  EXPECT_EQ(WriteResultsCsv(dir_), 10U);  // the 7 of the studies above, and these 3
  const auto records = Records(Read("results.csv"));
  const auto has = [&](const std::string& record) {
    return std::find(records.begin(), records.end(), record) != records.end();
  };
  const std::string no_features(17, ',');
  EXPECT_TRUE(has("1111222233334444,1.2.3.1111222233334444,scout,CT,,,skipped_by_design,,,,,\"" + scout_problem + "\"" +
                  no_features));
  EXPECT_TRUE(has("1111222233334444,1.2.3.1111222233334444,,,,,failed,,,,,sr: sr.dcm: cannot set SpecificCharacterSet" +
                  no_features));
  EXPECT_TRUE(has("5555666677778888,1.2.3.5555666677778888,,,,,failed,,,,,"
                  "the worker process died while processing this study: killed by signal 9" + no_features));

  // The pages say the same: the scout is a skipped flag, not an error; the study's own failures are errors.
  WriteHtmlReport(dir_);
  const std::string page = Read("report/1111222233334444.html");
  EXPECT_NE(page.find("<li class=\"flag-skipped\">skipped: " + scout_problem + "</li>"), std::string::npos) << page;
  EXPECT_EQ(page.find("flag-error\">error: " + scout_problem), std::string::npos);
  EXPECT_NE(page.find("left out by design"), std::string::npos);
  EXPECT_NE(page.find("flag-error\">error: sr: sr.dcm: cannot set SpecificCharacterSet"), std::string::npos);
  EXPECT_NE(Read("report/5555666677778888.html").find("killed by signal 9"), std::string::npos);
}

// Every src="..." in PAGE, resolved from the page's folder.
std::vector<fs::path> ImageSources(const std::string& page, const fs::path& folder) {
  std::vector<fs::path> sources;
  static const std::regex source(R"re(<img[^>]* src="([^"]+)")re");
  for (std::sregex_iterator it(page.begin(), page.end(), source), end; it != end; ++it)
    sources.push_back(folder / (*it)[1].str());
  return sources;
}

TEST_F(BatchOutputTest, HtmlReportEscapesTextAndReferencesImagesThatExist) {
  EXPECT_EQ(WriteHtmlReport(dir_), 3U);
  const std::string index = Read("report.html");
  for (const char* study : {kCtStudy, kDxStudy, kNiftiStudy}) {
    ASSERT_TRUE(fs::exists(dir_ / "report" / (std::string(study) + ".html"))) << study;
    EXPECT_NE(index.find("href=\"report/" + std::string(study) + ".html\""), std::string::npos) << study;
  }
  EXPECT_FALSE(fs::exists(dir_ / "report" / ".0000000000000000.staging-1.html"));
  const std::string dx_page = Read(fs::path("report") / (std::string(kDxStudy) + ".html"));
  for (const std::string* page : {&index, &dx_page}) {
    EXPECT_EQ(page->find(kHostile), std::string::npos);
    EXPECT_NE(page->find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  }
  EXPECT_NE(index.find("edema, &quot;peri&quot; 3.25 mL"), std::string::npos);
  EXPECT_NE(index.find("pneumonia 0.83 (threshold 0.5): positive"), std::string::npos);
  EXPECT_NE(dx_page.find("missing_slices: gap of 2 slices at 40 mm"), std::string::npos);
  EXPECT_EQ(index.find("://"), std::string::npos) << "the report must not reach the network";
  EXPECT_NE(index.find("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'sha256-"),
            std::string::npos);

  const auto thumbnails = ImageSources(index, dir_);
  EXPECT_EQ(thumbnails.size(), 3U);
  auto sources = thumbnails;
  for (const char* study : {kCtStudy, kDxStudy, kNiftiStudy}) {
    const auto page = ImageSources(Read(fs::path("report") / (std::string(study) + ".html")), dir_ / "report");
    EXPECT_EQ(page.size(), 1U) << study;
    sources.insert(sources.end(), page.begin(), page.end());
  }
  for (const auto& source : sources) EXPECT_TRUE(fs::is_regular_file(source)) << source;
}

// The study page names the study as a reviewer knows it and says the result is not verified; series
// and models are named as people know them, numbers rounded, the raw record folded away.
TEST_F(BatchOutputTest, StudyPagesNameTheStudyAsAReviewerKnowsIt) {
  json ct = CtStudy();
  ct.update({{"study_date", "20260301"}, {"accession_number", "A-17"}, {"study_description", "CT chest <b>"}});
  ct["series"][0].erase("series_number");
  ct["series"][0]["description"] = "Thorax 1.0";
  Write(kCtStudy, ct);
  WriteHtmlReport(dir_);
  const std::string page = Read(fs::path("report") / (std::string(kCtStudy) + ".html"));
  EXPECT_NE(page.find("<h1>CT chest &lt;b&gt; "), std::string::npos);
  EXPECT_NE(page.find("2026-03-01 &middot; accession A-17 &middot; CT &middot; study " + std::string(kCtStudy)), std::string::npos);
  EXPECT_NE(page.find("AI result, not verified"), std::string::npos);
  EXPECT_NE(page.find("<h2>Series &#39;Thorax 1.0&#39; &middot; CT"), std::string::npos) << "no series number: its description";
  EXPECT_EQ(page.find("Series #0"), std::string::npos);
  EXPECT_NE(page.find("<h3>lesion-seg 1.0 (segmentation)"), std::string::npos);
  EXPECT_NE(page.find("<td class=\"name\">lesion</td><td data-sort=\"12.4\">12.4 mL</td><td>5 to 10 mL <span class=\"flag-outlier\">outside</span>"),
            std::string::npos);
  EXPECT_NE(page.find("<details class=\"raw\"><summary>raw details</summary>"), std::string::npos);
  EXPECT_NE(page.find(">0.875<"), std::string::npos) << "numbers to six significant digits";
}

// What Chromium, in a window WIDTH px wide, reports of PAGE (a file under the fixture's folder) from
// SCRIPT, which sets document.title: the page gets a copy with SCRIPT allowed by its hash, as the
// page's own scripts are. Empty when Debian's chromium is absent.
std::string MeasureInChromium(const fs::path& page, const std::string& script, int width, const fs::path& work);

// A segmentation of 40 labels with long names (TotalSegmentator's have more): the study page's label
// table lists every one with its volume and normal range, flags those outside it, and in a 1400 px
// window Chromium lays it out with every row whole inside the window and the page no wider.
TEST_F(BatchOutputTest, LabelTableListsEveryLabelWithinA1400PixelWindow) {
  json labels = json::array();
  for (int value = 1; value <= 40; ++value) {
    json label = Label(value, "structure_" + std::to_string(value) + "_of_the_left_side_with_a_long_name", 0.5 * value);
    if (value % 2) label["normal_range_ml"] = {1, 10};
    labels.push_back(label);
  }
  json ct = CtStudy();
  ct["series"][0]["analyses"][0]["labels"] = labels;
  Write(kCtStudy, ct);
  WriteHtmlReport(dir_);
  const fs::path page_path = fs::path("report") / (std::string(kCtStudy) + ".html");
  const std::string page = Read(page_path);
  const auto start = page.find("<table class=\"labels sortable\">");
  ASSERT_NE(start, std::string::npos);
  const std::string table = page.substr(start, page.find("</table>", start) - start);
  static const std::regex row(R"(<tr( class="outside-range")?><td>(\d+)</td><td class="name">([^<]*)</td><td[^>]*>([^<]*)</td><td>([^<]*))");
  std::vector<int> values, outside;
  for (std::sregex_iterator it(table.begin(), table.end(), row), end; it != end; ++it) {
    const int value = std::stoi((*it)[2]);
    values.push_back(value);
    if ((*it)[1].matched) outside.push_back(value);
    EXPECT_EQ((*it)[3].str(), "structure_" + std::to_string(value) + "_of_the_left_side_with_a_long_name");
    char volume[32];
    std::snprintf(volume, sizeof volume, "%.3g mL", 0.5 * value);
    EXPECT_EQ((*it)[4].str(), volume);
    EXPECT_EQ((*it)[5].str().rfind(value % 2 ? "1 to 10 mL" : "", 0), 0U) << (*it)[5];
  }
  std::vector<int> all(40);
  std::iota(all.begin(), all.end(), 1);
  EXPECT_EQ(values, all);
  // Odd values carry [1, 10] mL: 0.5 mL (value 1) and 10.5 to 19.5 mL (21 to 39) are outside it.
  EXPECT_EQ(outside, (std::vector<int>{1, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39}));

  const std::string measured = MeasureInChromium(
      dir_ / page_path,
      "const table = document.querySelector('table.labels'), width = document.documentElement.clientWidth;"
      "const rows = [...table.tBodies[0].rows];"
      "const whole = rows.filter(r => { const box = r.getBoundingClientRect();"
      " return box.height > 0 && box.left >= 0 && box.right <= width; }).length;"
      "document.title = ['measured', innerWidth, width, document.documentElement.scrollWidth, rows.length, whole].join(' ');",
      1400, dir_);
  if (measured.empty()) GTEST_SKIP() << "/usr/bin/chromium is not installed (Debian package chromium)";
  std::istringstream words(measured);
  std::string word;
  int inner = 0, client = 0, scroll = 0, rows = 0, whole = 0;
  words >> word >> inner >> client >> scroll >> rows >> whole;
  ASSERT_EQ(word, "measured") << measured;
  EXPECT_EQ(inner, 1400);
  EXPECT_LE(scroll, client) << "the page is wider than the window";
  EXPECT_EQ(rows, 40);
  EXPECT_EQ(whole, 40) << "rows cut off at the window's edge";
}

// numpy.percentile's default ("linear"): the value at rank Q (n - 1) of the sorted values, interpolated
// between the two closest ranks; the batch page's quartiles use the same convention (core/percentile.h).
double LinearQuantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double rank = q * double(values.size() - 1);
  const auto below = size_t(rank);
  if (below + 1 >= values.size()) return values.back();
  return values[below] + (rank - double(below)) * (values[below + 1] - values[below]);
}

// A batch of 38 hippocampus studies whose result.json go through the typed results (StudyResult to
// JSON, as the pipeline writes them) with the shipped manifest's normal ranges: anterior volumes close
// together with two inside the range but past the 1.5 IQR fences and three past both; posterior volumes
// spread wider than the fences, so that those outside the range are inside the fences. Exactly the
// studies outside a fence or a range are flagged, on their rows and as red points of the SVG.
TEST_F(BatchOutputTest, CohortPlotsFlagExactlyTheStudiesOutsideTheFencesOrTheNormalRange) {
  const auto manifest = json::parse(ReadFile(fs::path(MEDPIPE_SOURCE_DIR) / "models/hippocampus/manifest.json"));
  std::map<std::string, std::array<double, 2>> ranges;
  for (const auto& label : manifest["output"]["labels"]) ranges[label["name"]] = label["normal_range_ml"];
  ASSERT_EQ(ranges.size(), 2U);

  std::vector<double> anterior, posterior;
  for (int i = 0; i < 33; ++i) anterior.push_back(1.60 + 0.0075 * i);
  for (double odd : {1.27, 2.18, 0.61, 2.47, 3.1}) anterior.push_back(odd);
  for (size_t i = 0; i < anterior.size(); ++i) posterior.push_back(0.83 + 0.0397 * double(i * 7 % anterior.size()));
  const fs::path outdir = dir_ / "cohort";
  std::vector<std::string> ids;
  for (size_t i = 0; i < anterior.size(); ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "c0ffee%010zx", i);
    ids.push_back(id);
    json analysis = {{"model", "hippocampus"}, {"version", "1.0.0"}, {"task", "segmentation"}, {"device", "cpu"},
                     {"precision", "fp32"}, {"labels", {Label(1, "anterior", anterior[i]), Label(2, "posterior", posterior[i])}}};
    json series = {{"id", "mr"}, {"series_number", 3}, {"modality", "MR"}, {"kind", "volume"}, {"loaded", true},
                   {"problems", json::array()}, {"analyses", {analysis}}};
    auto study = Result(id, "ok", "dicom", {series}).get<StudyResult>();
    for (auto& label : study.series[0].analyses[0].labels) label.normal_range_ml = ranges.at(label.name);
    fs::create_directories(outdir / "studies" / id);
    WriteFileAtomically(outdir / "studies" / id / "result.json", json(study).dump(2));
  }
  testing::ExpectValidResult(outdir / "studies" / ids.front() / "result.json");

  // Expected, apart from medpipe: per label, who is outside the fences, who outside the range.
  std::map<std::string, int> expected_reasons;                   // study -> how many fences or ranges it passes
  std::map<std::string, std::set<std::string>> expected_points;  // label -> studies drawn red
  std::map<std::string, std::string> fence_text;
  for (const auto& [name, volumes] : {std::pair{std::string("anterior"), &anterior}, {std::string("posterior"), &posterior}}) {
    SCOPED_TRACE(name);
    const double q1 = LinearQuantile(*volumes, 0.25), q3 = LinearQuantile(*volumes, 0.75);
    const double low = q1 - 1.5 * (q3 - q1), high = q3 + 1.5 * (q3 - q1);
    const auto [normal_low, normal_high] = ranges.at(name);
    char text[64];
    std::snprintf(text, sizeof text, "fences %.3g to %.3g mL", low, high);
    fence_text[name] = text;
    int fenced = 0, abnormal = 0;
    for (size_t i = 0; i < volumes->size(); ++i) {
      const double v = (*volumes)[i];
      for (double edge : {low, high, normal_low, normal_high}) ASSERT_GT(std::fabs(v - edge), 1e-3) << "too close to call";
      const bool past_fence = v < low || v > high, past_range = v < normal_low || v > normal_high;
      fenced += past_fence, abnormal += past_range;
      expected_reasons[ids[i]] += int(past_fence) + int(past_range);
      if (past_fence || past_range) expected_points[name].insert(ids[i]);
    }
    EXPECT_EQ(fenced, name == "anterior" ? 5 : 0);
    EXPECT_GE(abnormal, 3);
  }

  WriteHtmlReport(outdir);
  const std::string index = ReadFile(outdir / "report.html");
  // Rows: flagged exactly when expected, with one "outside" reason per fence or range passed.
  static const std::regex row_pattern(R"re(<tr data-study="([0-9a-z]{16})"[^>]* data-flagged="(true|false)"[^\n]*)re");
  size_t rows = 0;
  for (std::sregex_iterator it(index.begin(), index.end(), row_pattern), end; it != end; ++it, ++rows) {
    const std::string id = (*it)[1], row = (*it)[0];
    SCOPED_TRACE(id);
    EXPECT_EQ((*it)[2] == "true", expected_reasons.at(id) > 0);
    int reasons = 0;
    for (const std::string reason : {"outside the batch&#39;s 1.5 IQR fences", "outside the normal range"})
      for (size_t at = row.find(reason); at != std::string::npos; at = row.find(reason, at + 1)) ++reasons;
    EXPECT_EQ(reasons, expected_reasons.at(id));
  }
  EXPECT_EQ(rows, ids.size());
  // The SVG: per label, the red points are exactly the expected studies, the caption gives the fences,
  // and the normal range is drawn.
  for (const std::string name : {"anterior", "posterior"}) {
    SCOPED_TRACE(name);
    const auto start = index.find("<figure class=\"cohort-plot\" data-kind=\"volume\" data-outliers=\"" +
                                  std::to_string(expected_points[name].size()) + "\"><figcaption><b>hippocampus &middot; " + name);
    ASSERT_NE(start, std::string::npos);
    const std::string figure = index.substr(start, index.find("</figure>", start) - start);
    EXPECT_NE(figure.find(fence_text[name]), std::string::npos) << fence_text[name] << " in " << figure.substr(0, 400);
    EXPECT_NE(figure.find("class=\"normal\""), std::string::npos);
    static const std::regex point(R"re(<a href="report/([0-9a-z]{16})\.html"><circle [^>]*class="(point|point outlier)")re");
    std::set<std::string> red, all;
    for (std::sregex_iterator it(figure.begin(), figure.end(), point), end; it != end; ++it) {
      all.insert((*it)[1]);
      if ((*it)[2] == "point outlier") red.insert((*it)[1]);
    }
    EXPECT_EQ(all.size(), ids.size());
    EXPECT_EQ(red, expected_points[name]);
  }
}

TEST_F(BatchOutputTest, BrokenResultIsAnIoErrorNamingTheFile) {
  WriteFileAtomically(dir_ / "studies" / kNiftiStudy / "result.json", R"({"study_id": "00aa11bb22cc33dd"})");
  try {
    WriteHtmlReport(dir_);
    FAIL() << "expected IoError";
  } catch (const IoError& error) {
    EXPECT_EQ(error.Where(), (dir_ / "studies" / kNiftiStudy / "result.json").string());
  }
}

// The exit status of COMMAND run by the shell.
int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// What the page's scripts logged. Chromium logs every console level as INFO:CONSOLE, and the report's
// script logs nothing, so any console line, an uncaught exception included, is a fault.
std::vector<std::string> ConsoleLines(const std::string& log) {
  std::vector<std::string> lines;
  std::istringstream stream(log);
  for (std::string line; std::getline(stream, line);)
    if (line.find(":CONSOLE") != std::string::npos || line.find("Uncaught") != std::string::npos) lines.push_back(line);
  return lines;
}

std::string MeasureInChromium(const fs::path& page, const std::string& script, int width, const fs::path& work) {
  const std::string chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) return "";
  std::string copy = ReadFile(page);
  copy.replace(copy.rfind("</body>"), 7, "<script>" + script + "</script></body>");
  copy.replace(copy.find("script-src "), 11, "script-src 'sha256-" + Sha256Base64(script) + "' ");
  const fs::path measured = page.parent_path() / ("measured-" + page.filename().string());
  WriteFileAtomically(measured, copy);
  const fs::path dom = work / "measured_dom.html", log = work / "measured.log";
  const int status = Shell("timeout 60 " + chromium + " --headless --no-sandbox --disable-gpu --user-data-dir=" +
                           (work / "measure-profile").string() + " --window-size=" + std::to_string(width) +
                           ",900 --dump-dom file://" + measured.string() + " >" + dom.string() + " 2>" + log.string());
  EXPECT_EQ(status, 0) << ReadFile(log);
  static const std::regex title("<title>([^<]*)</title>");
  std::smatch match;
  const std::string text = ReadFile(dom);
  return std::regex_search(text, match, title) ? match[1].str() : "no title in " + dom.string();
}

// Study ids in the order the rows of the DOM's studies table list them.
std::vector<std::string> RowOrder(const std::string& dom) {
  std::vector<std::string> ids;
  static const std::regex link(R"(<tr[^>]*>.*?<a href="report/([0-9a-f]{16})\.html">)");
  for (std::sregex_iterator it(dom.begin(), dom.end(), link), end; it != end; ++it) ids.push_back((*it)[1].str());
  return ids;
}

TEST_F(BatchOutputTest, ChromiumRendersTheReportWithoutScriptErrorsAndSortsNumerically) {
  const std::string chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << chromium << " is not installed (Debian package chromium)";
  WriteHtmlReport(dir_);
  // A copy of the page that clicks the lesion-seg header once loaded (numbers sort as numbers); the
  // click is allowed by its hash, as the page's own script is. A script that got in without one,
  // as injected text would, is refused by the Content-Security-Policy.
  const std::string click = "[...document.querySelectorAll('th')].find(th => th.textContent === 'lesion-seg').click()";
  std::string clicked = Read("report.html");
  clicked.replace(clicked.rfind("</body>"), 7,
                  "<script>" + click + "</script><script>document.title = 'injected'</script></body>");
  clicked.replace(clicked.find("script-src "), 11, "script-src 'sha256-" + Sha256Base64(click) + "' ");
  WriteFileAtomically(dir_ / "clicked.html", clicked);

  const std::string browser = "timeout 60 " + chromium + " --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 "
                              "--user-data-dir=" + (dir_ / "profile").string() + " ";
  const std::string url = "file://" + (dir_ / "report.html").string();
  const fs::path screenshot = dir_ / "screenshot.png";
  ASSERT_EQ(Shell(browser + "--screenshot=" + screenshot.string() + " --window-size=1280,900 " + url + " 2>" +
                (dir_ / "screenshot.log").string()), 0)
      << Read("screenshot.log");
  ASSERT_EQ(Shell(browser + "--dump-dom " + url + " >" + (dir_ / "dom.html").string() + " 2>" +
                (dir_ / "dom.log").string()), 0)
      << Read("dom.log");
  ASSERT_EQ(Shell(browser + "--dump-dom file://" + (dir_ / "clicked.html").string() + " >" +
                (dir_ / "clicked_dom.html").string() + " 2>" + (dir_ / "clicked.log").string()), 0)
      << Read("clicked.log");

  for (const char* log : {"screenshot.log", "dom.log"}) EXPECT_EQ(ConsoleLines(Read(log)), std::vector<std::string>{}) << log;
  const auto refused = ConsoleLines(Read("clicked.log"));
  ASSERT_EQ(refused.size(), 1U);
  EXPECT_NE(refused[0].find("violates the following Content Security Policy directive"), std::string::npos) << refused[0];
  EXPECT_EQ(Read("clicked_dom.html").find("<title>injected"), std::string::npos);

  const cv::Mat picture = cv::imread(screenshot.string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(picture.empty());
  EXPECT_EQ(picture.cols, 1280);
  std::set<uint32_t> colours;
  for (int y = 0; y < picture.rows; y += 3)
    for (int x = 0; x < picture.cols; x += 3) {
      const auto p = picture.at<cv::Vec3b>(y, x);
      colours.insert(uint32_t(p[0]) << 16 | uint32_t(p[1]) << 8 | p[2]);
    }
  EXPECT_GT(colours.size(), 50U) << "the screenshot looks blank";

  const std::string dom = Read("dom.html");
  EXPECT_NE(dom.find("<table class=\"sortable\" id=\"studies\">"), std::string::npos);
  EXPECT_EQ(RowOrder(dom), (std::vector<std::string>{kNiftiStudy, kCtStudy, kDxStudy}));
  EXPECT_EQ(ImageSources(dom, dir_).size(), 3U);
  // Ascending by the first volume: DX has none, then 9.5 mL before 12.4 mL (as text "12.4" < "9.5").
  EXPECT_EQ(RowOrder(Read("clicked_dom.html")), (std::vector<std::string>{kDxStudy, kNiftiStudy, kCtStudy}));
}

}  // namespace
}  // namespace medpipe::report
