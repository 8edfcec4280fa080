#include <gtest/gtest.h>
#include <itkImageRegionIteratorWithIndex.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <sys/wait.h>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
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
  ASSERT_EQ(plain.size(), heat.size());
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
    lesion.update({{"surface_mm2", 30.5},
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
            "intensity_min,intensity_max,intensity_p5,intensity_p25,intensity_median,intensity_p75,intensity_p95");
  const auto has = [&](const std::string& record) {
    return std::find(records.begin(), records.end(), record) != records.end();
  };
  const std::string no_features(15, ',');
  EXPECT_TRUE(has("0123456789abcdef,1.2.3.0123456789abcdef,ct,CT,lesion-seg,segmentation,ok,lesion,12.4,,,,"
                  "30.5,0.875,-12.5,40,101.25,HU,101.5,4.25,80,120,90,97,101,106,113.5"));
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
  const std::string no_features(15, ',');
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
  EXPECT_NE(page.find("lesion 12.4 mL"), std::string::npos);
  EXPECT_NE(page.find("<details class=\"raw\"><summary>raw details</summary>"), std::string::npos);
  EXPECT_NE(page.find(">0.875<"), std::string::npos) << "numbers to six significant digits";
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
