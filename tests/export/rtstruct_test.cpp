// RTSTRUCT contours against an independent reader. Debian's plastimatch samples contours at voxel
// centres, as RT planning systems do: every ROI must come back with its volume (within 3 %) and shape
// (Dice >= 0.97), on an axial series and on an oblique, anisotropic, feet-first one. Contours through
// voxel centres (the convention before issue 21, which plastimatch read 20-34 % small on these masks)
// must fail medpipe's own read-back check, which samples centres too.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <itkImageRegionConstIteratorWithIndex.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "export_test_support.h"
#include "medpipe/core/error.h"
#include "medpipe/export/dicom_seg.h"
#include "medpipe/export/rtstruct.h"
#include "medpipe/volume_io/nifti_io.h"

namespace medpipe::exporter {
namespace {

namespace fs = std::filesystem;
using namespace export_testing;

constexpr const char* kPlastimatch = "/usr/bin/plastimatch";

// One ROI as plastimatch read it against its label in the mask, voxel by voxel on the mask's grid.
struct Agreement {
  size_t mask = 0, read = 0, both = 0;
  double VolumeRatio() const { return static_cast<double>(read) / static_cast<double>(mask); }
  double Dice() const { return 2.0 * static_cast<double>(both) / static_cast<double>(mask + read); }
};

// Runs plastimatch with ARGUMENTS, its output in LOG, shown only when it fails.
bool RunPlastimatch(const std::string& arguments, const fs::path& log) {
  const std::string command = std::string(kPlastimatch) + " " + arguments + " > '" + log.string() + "' 2>&1";
  if (std::system(command.c_str()) == 0) return true;
  ADD_FAILURE() << command << " failed:\n" << RunCommand("cat '" + log.string() + "'", "plastimatch");
  return false;
}

// Each structure of the RTSTRUCT at PATH, by ROI name, as plastimatch rasterises it onto the grid of the
// CT series in SERIES (one image per structure; MORE_OPTIONS added), working in OUT. plastimatch writes
// MetaImage, so it converts each to NIfTI as well, which medpipe's ITK reads.
std::map<std::string, LabelImage::Pointer> PlastimatchStructures(const fs::path& path, const fs::path& series,
                                                                 const fs::path& out, const std::string& more_options) {
  std::map<std::string, LabelImage::Pointer> structures;
  const fs::path prefix = out / "structures", log = out / "plastimatch.log";
  fs::create_directories(out);
  if (!RunPlastimatch("convert --input '" + path.string() + "' --referenced-ct '" + series.string() +
                          "' --output-prefix '" + prefix.string() + "' " + more_options,
                      log)) {
    return structures;
  }
  for (const auto& entry : fs::directory_iterator(prefix)) {
    const fs::path nifti = out / (entry.path().stem().string() + ".nii.gz");
    if (RunPlastimatch("convert --input '" + entry.path().string() + "' --output-img '" + nifti.string() + "'", log)) {
      structures[entry.path().stem().string()] = ReadLabelNifti(nifti);
    }
  }
  return structures;
}

// Each voxel of MASK is VALUE or not, and inside STRUCTURE or not at the same point in patient space,
// so that plastimatch's grid may order or orient its axes as it likes.
Agreement Compare(const LabelImage& mask, uint8_t value, const LabelImage& structure) {
  Agreement agreement;
  itk::ImageRegionConstIteratorWithIndex<LabelImage> it(&mask, mask.GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it) {
    LabelImage::PointType point;
    mask.TransformIndexToPhysicalPoint(it.GetIndex(), point);
    Index there;
    const bool in_read = structure.TransformPhysicalPointToIndex(point, there) && structure.GetPixel(there) != 0;
    const bool in_mask = it.Get() == value;
    agreement.mask += in_mask;
    agreement.read += in_read;
    agreement.both += in_mask && in_read;
  }
  return agreement;
}

// Writes MASK on the loaded series as an RTSTRUCT, has plastimatch read it onto the series' grid, and
// expects every label present to come back with its volume and shape; prints the figures.
void ExpectPlastimatchReadsBack(const MaskedSeries& ct, const std::vector<model::Label>& labels, const fs::path& dir,
                                const std::string& more_options = "") {
  ASSERT_TRUE(fs::exists(kPlastimatch)) << kPlastimatch << " is not installed (Debian package plastimatch)";
  const fs::path path = dir / "rtstruct.dcm";
  WriteRtStruct(*ct.mask, labels, SourceOf(ct.series), "test-net", path);
  const auto structures = PlastimatchStructures(path, fs::path(ct.series.files.front().path).parent_path(),
                                                dir / "plastimatch", more_options);
  for (const model::Label& label : labels) {
    if (CountValue(*ct.mask, static_cast<uint8_t>(label.value)) == 0) continue;
    const std::string name = RoiName(label);
    ASSERT_EQ(structures.count(name), 1u) << "plastimatch has no structure '" << name << "'";
    const Agreement agreement = Compare(*ct.mask, static_cast<uint8_t>(label.value), *structures.at(name));
    std::printf("plastimatch: %-8s %5zu voxels in the mask, %5zu read (%6.2f %%), Dice %.4f\n", label.name.c_str(),
                agreement.mask, agreement.read, 100.0 * agreement.VolumeRatio(), agreement.Dice());
    EXPECT_NEAR(agreement.VolumeRatio(), 1.0, 0.03) << label.name;
    EXPECT_GE(agreement.Dice(), 0.97) << label.name;
  }
}

class RtStruct : public testing::TempDirTest {};

TEST_F(RtStruct, PlastimatchReadsBackVolumeAndShapeOnAnAxialSeries) {
  ExpectPlastimatchReadsBack(SyntheticCtWithMask(dir_), ThreeLabels(), dir_);
}

TEST_F(RtStruct, PlastimatchReadsBackVolumeAndShapeOnAnObliqueAnisotropicFeetFirstSeries) {
  WriteObliqueFeetFirstSeries(dir_ / "series");
  const MaskedSeries ct = LoadOnlySeriesWithEmptyMask(dir_ / "series");
  DrawSphereAndBox(*ct.mask, {{9, 9, 5}}, 4.0, {{15, 11, 6}}, {{20, 16, 10}});  // apart, off-centre
  ExpectPlastimatchReadsBack(ct, ThreeLabels(), dir_);
}

// plastimatch ORs a slice's contours unless told to XOR them, and would fill the frame's hole.
TEST_F(RtStruct, PlastimatchReadsBackHolesIslandsAndThinPartsWhenXoringContours) {
  ExpectPlastimatchReadsBack(SyntheticCtWithFrameAndThinParts(dir_), FrameAndThinLabels(), dir_, "--xor-contours");
}

// ---- the contours themselves ----

// A contour as continuous (column, row) indices of a mask grid.
struct IndexContour {
  int roi = 0;
  Index::IndexValueType slice = 0;
  std::vector<std::array<double, 2>> points;

  // Shoelace area in pixels: positive for a border running clockwise on the image (rows down).
  double SignedArea() const {
    double twice = 0;
    for (size_t i = 0, j = points.size() - 1; i < points.size(); j = i++) {
      twice += points[j][0] * points[i][1] - points[i][0] * points[j][1];
    }
    return twice / 2;
  }
};

// The CLOSED_PLANAR contours of the RTSTRUCT at PATH placed on GRID.
std::vector<IndexContour> ContoursOn(const fs::path& path, const LabelImage& grid) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DcmSequenceOfItems* rois = nullptr;
  EXPECT_TRUE(file.getDataset()->findAndGetSequence(DCM_ROIContourSequence, rois).good());
  std::vector<IndexContour> found;
  for (unsigned long r = 0; rois && r < rois->card(); ++r) {
    DcmSequenceOfItems* contours = nullptr;
    rois->getItem(r)->findAndGetSequence(DCM_ContourSequence, contours);
    for (unsigned long c = 0; contours && c < contours->card(); ++c) {
      IndexContour contour;
      contour.roi = std::stoi(GetString(*rois->getItem(r), DCM_ReferencedROINumber));
      DcmElement* data = nullptr;
      EXPECT_TRUE(contours->getItem(c)->findAndGetElement(DCM_ContourData, data).good());
      for (unsigned long p = 0; data && p + 2 < data->getVM(); p += 3) {
        LabelImage::PointType point;
        for (unsigned a = 0; a < 3; ++a) data->getFloat64(point[a], p + a);
        itk::ContinuousIndex<double, 3> index;
        grid.TransformPhysicalPointToContinuousIndex(point, index);
        contour.slice = std::lround(index[2]);
        contour.points.push_back({index[0], index[1]});
      }
      found.push_back(std::move(contour));
    }
  }
  return found;
}

// (ROI, number of points, signed area) of each contour, in file order, areas rounded to whole pixels.
std::vector<std::array<long, 3>> Outline(const std::vector<IndexContour>& contours) {
  std::vector<std::array<long, 3>> outline;
  for (const IndexContour& contour : contours) {
    outline.push_back({contour.roi, static_cast<long>(contour.points.size()), std::lround(contour.SignedArea())});
  }
  return outline;
}

// Each shape's border with the corners where it turns and no others: a single voxel (4 corners), an L
// (6), a voxel in the slice's corner, two voxels touching at a corner (two squares: 4-connected regions), a ring (its border and its
// hole's, anticlockwise) and a ring whose hole reaches the outside through a corner (one border, around
// the hole, 10 corners).
TEST_F(RtStruct, ContoursRunAlongPixelEdgesAndTurnOnlyAtCorners) {
  MaskedSeries ct = LoadOnlySeriesWithEmptyMask(synth::WriteSyntheticCt(dir_ / "ct", synth::VolumeSpec{16, 16, 3}, 14));
  LabelImage& mask = *ct.mask;
  mask.SetPixel({{1, 1, 1}}, 1);
  FillBox(mask, {{4, 1, 1}}, {{6, 1, 1}}, 1);
  FillBox(mask, {{4, 2, 1}}, {{4, 3, 1}}, 1);
  mask.SetPixel({{15, 15, 1}}, 1);
  mask.SetPixel({{9, 1, 1}}, 2);
  mask.SetPixel({{10, 2, 1}}, 2);
  FillBox(mask, {{1, 6, 1}}, {{3, 8, 1}}, 2);
  mask.SetPixel({{2, 7, 1}}, 0);
  FillBox(mask, {{6, 6, 1}}, {{8, 8, 1}}, 2);
  mask.SetPixel({{7, 7, 1}}, 0);
  mask.SetPixel({{8, 8, 1}}, 0);
  const std::vector<model::Label> labels{MakeLabel(1, "one", {255, 0, 0}), MakeLabel(2, "two", {0, 255, 0})};
  const fs::path path = dir_ / "rtstruct.dcm";
  WriteRtStruct(mask, labels, SourceOf(ct.series), "test-net", path);

  const std::vector<IndexContour> contours = ContoursOn(path, mask);
  for (const IndexContour& contour : contours) {
    EXPECT_EQ(contour.slice, 1);
    for (const auto& point : contour.points) {
      EXPECT_NEAR(point[0] - std::floor(point[0]), 0.5, 1e-6) << "not on a pixel corner";
      EXPECT_NEAR(point[1] - std::floor(point[1]), 0.5, 1e-6) << "not on a pixel corner";
    }
  }
  const std::vector<std::array<long, 3>> expected{{1, 4, 1}, {1, 6, 5}, {1, 4, 1},  {2, 4, 1},
                                                  {2, 4, 1}, {2, 4, 9}, {2, 10, 7}, {2, 4, -1}};
  EXPECT_EQ(Outline(contours), expected);
  EXPECT_EQ(DifferentVoxels(mask, *ReadRtStruct(path, mask)), 0u);
}

// The convention before issue 21, contours through the centres of a box's boundary voxels (what
// cv::findContours gave), sampled at centres: the centres on the far column and row of each slice lie on
// the contour and fall outside, so medpipe's read-back check must refuse it.
TEST_F(RtStruct, ContoursThroughVoxelCentresFailTheReadBackCheck) {
  MaskedSeries ct = LoadOnlySeriesWithEmptyMask(synth::WriteSyntheticCt(dir_ / "ct", synth::VolumeSpec{24, 24, 6}, 15));
  const Index low{{5, 6, 1}}, high{{12, 15, 4}};
  FillBox(*ct.mask, low, high, 1);
  const std::vector<model::Label> labels{MakeLabel(1, "box", {255, 0, 0})};
  const fs::path path = dir_ / "rtstruct.dcm";
  WriteRtStruct(*ct.mask, labels, SourceOf(ct.series), "test-net", path);
  EXPECT_NO_THROW(CheckSameGeometry(*ct.mask, *ReadRtStruct(path, *ct.mask), labels, "pixel-edge contours"));

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(path.c_str()).good());
  DcmItem* roi = nullptr;
  ASSERT_TRUE(file.getDataset()->findAndGetSequenceItem(DCM_ROIContourSequence, roi).good());
  DcmSequenceOfItems* contours = nullptr;
  ASSERT_TRUE(roi->findAndGetSequence(DCM_ContourSequence, contours).good());
  ASSERT_EQ(contours->card(), static_cast<unsigned long>(high[2] - low[2] + 1)) << "one contour per slice";
  for (unsigned long c = 0; c < contours->card(); ++c) {
    const auto z = low[2] + static_cast<Index::IndexValueType>(c);
    std::vector<double> data;
    for (const auto& [x, y] : {std::pair{low[0], low[1]}, {high[0], low[1]}, {high[0], high[1]}, {low[0], high[1]}}) {
      LabelImage::PointType point;
      ct.mask->TransformIndexToPhysicalPoint({{x, y, z}}, point);
      data.insert(data.end(), point.Begin(), point.End());
    }
    contours->getItem(c)->putAndInsertString(DCM_ContourData, Decimals(data).c_str());
  }
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());

  const auto read_back = ReadRtStruct(path, *ct.mask);
  const auto size = high - low;  // voxels along each axis, less one
  EXPECT_EQ(CountValue(*read_back, 1), static_cast<size_t>(size[0] * size[1] * (size[2] + 1)));
  EXPECT_THROW(CheckSameGeometry(*ct.mask, *read_back, labels, "contours through centres"), Error);
}

}  // namespace
}  // namespace medpipe::exporter
