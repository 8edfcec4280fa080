// DICOM SR (TID 1500 measurement report) and RTSTRUCT export: written from masks on loaded series,
// checked with dciodvfy and dsrdump, read back with DCMTK, and contours placed right on an oblique,
// feet-first series.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "medpipe/core/error.h"
#include "medpipe/dicom/series_loader.h"
#include "medpipe/export/dicom_seg.h"
#include "medpipe/export/dicom_sr.h"
#include "medpipe/export/rtstruct.h"
#include "medpipe/synth/synthetic_study.h"
#include "test_support.h"

namespace medpipe::exporter {
namespace {

namespace fs = std::filesystem;
using dicom::Series;
using dicom::Vec3;
using Index = LabelImage::IndexType;

model::Label MakeLabel(int value, const std::string& name, std::array<int, 3> colour, model::Code category = {},
                       model::Code type = {}) {
  model::Label label;
  label.value = value;
  label.name = name;
  label.colour = colour;
  label.category = std::move(category);
  label.type = std::move(type);
  return label;
}

// A coded sphere, a box left to the SCT default codes, and a label that never appears in the mask.
std::vector<model::Label> Labels() {
  return {MakeLabel(1, "lesion", {255, 0, 0}, {"49755003", "SCT", "Morphologically Altered Structure"},
                    {"52988006", "SCT", "Lesion"}),
          MakeLabel(2, "box", {0, 200, 0}), MakeLabel(3, "absent", {0, 0, 255})};
}

struct LoadedSeries {
  Series series;
  LabelImage::Pointer mask;  // empty, on the loaded volume's grid
};

LoadedSeries LoadOnlySeries(const fs::path& folder) {
  const auto index = dicom::BuildIndex(dicom::ScanArchive(folder));
  EXPECT_EQ(index.studies.size(), 1u);
  EXPECT_EQ(index.studies.at(0).series.size(), 1u);
  const Series& series = index.studies.at(0).series.at(0);
  EXPECT_TRUE(series.problems.empty()) << series.problems.front();
  const Volume volume = dicom::LoadSeries(series);
  auto mask = LabelImage::New();
  mask->SetRegions(volume.Grid().GetLargestPossibleRegion());
  mask->SetSpacing(volume.Grid().GetSpacing());
  mask->SetOrigin(volume.Grid().GetOrigin());
  mask->SetDirection(volume.Grid().GetDirection());
  mask->Allocate(true);
  return {series, mask};
}

// A sphere of RADIUS_MM around voxel CENTRE (label 1) and the box LOW..HIGH (label 2).
void DrawSphereAndBox(LabelImage& mask, Index centre, double radius_mm, Index low, Index high) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  const auto& spacing = mask.GetSpacing();
  for (Index::IndexValueType z = 0; z < Index::IndexValueType(size[2]); ++z)
    for (Index::IndexValueType y = 0; y < Index::IndexValueType(size[1]); ++y)
      for (Index::IndexValueType x = 0; x < Index::IndexValueType(size[0]); ++x) {
        const double dx = (x - centre[0]) * spacing[0], dy = (y - centre[1]) * spacing[1], dz = (z - centre[2]) * spacing[2];
        if (dx * dx + dy * dy + dz * dz <= radius_mm * radius_mm) mask.SetPixel({{x, y, z}}, 1);
      }
  for (auto z = low[2]; z <= high[2]; ++z)
    for (auto y = low[1]; y <= high[1]; ++y)
      for (auto x = low[0]; x <= high[0]; ++x) mask.SetPixel({{x, y, z}}, 2);
}

// The synthetic CT (48 x 40 x 12, 1 x 1 x 2 mm) with a sphere and a box.
LoadedSeries SyntheticCtWithMask(const fs::path& dir) {
  LoadedSeries ct = LoadOnlySeries(synth::WriteSyntheticCt(dir, synth::VolumeSpec{48, 40, 12}, 11));
  DrawSphereAndBox(*ct.mask, {{30, 14, 5}}, 5.0, {{5, 22, 2}}, {{12, 33, 8}});
  return ct;
}

size_t CountValue(const LabelImage& mask, uint8_t value) {
  size_t count = 0;
  for (size_t i = 0; i < mask.GetPixelContainer()->Size(); ++i) count += mask.GetBufferPointer()[i] == value;
  return count;
}

size_t DifferentVoxels(const LabelImage& a, const LabelImage& b) {
  EXPECT_EQ(a.GetLargestPossibleRegion(), b.GetLargestPossibleRegion());
  size_t different = 0;
  for (size_t i = 0; i < a.GetPixelContainer()->Size(); ++i) different += a.GetBufferPointer()[i] != b.GetBufferPointer()[i];
  return different;
}

// The text a command prints on stdout and stderr; every line is shown with PREFIX.
std::string RunCommand(const std::string& command, const std::string& prefix) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  EXPECT_NE(pipe, nullptr) << "cannot run " << command;
  std::string output;
  char buffer[4096];
  while (pipe && std::fgets(buffer, sizeof buffer, pipe)) {
    std::printf("%s: %s", prefix.c_str(), buffer);
    output += buffer;
  }
  if (pipe) pclose(pipe);
  return output;
}

// dciodvfy reports no line starting with "Error" for PATH; its warnings are printed.
void ExpectDciodvfyFindsNoErrors(const fs::path& path) {
  std::istringstream lines(RunCommand("/usr/bin/dciodvfy '" + path.string() + "'", "dciodvfy"));
  std::string line, errors;
  while (std::getline(lines, line)) {
    if (line.rfind("Error", 0) == 0) errors += line + "\n";
  }
  EXPECT_EQ(errors, "");
}

std::string Ds(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

class SrRtStruct : public testing::TempDirTest {};

// ---- SR ----

struct ReportCase {
  LoadedSeries ct;
  SegmentationFindings segmentation;
  ClassificationFinding classification;
};

ReportCase SyntheticReport(const fs::path& dir) {
  ReportCase report{SyntheticCtWithMask(dir), {}, {}};
  const auto labels = Labels();
  const double voxel_ml = 2.0 / 1000.0;
  char uid[100];
  report.segmentation = {dcmGenerateUniqueIdentifier(uid), "", "test-net", "1.2.0", &report.ct.series, {}};
  report.segmentation.seg_series_instance_uid = dcmGenerateUniqueIdentifier(uid);
  for (int i = 0; i < 2; ++i) {
    report.segmentation.segments.push_back({i + 1, labels[i], CountValue(*report.ct.mask, labels[i].value) * voxel_ml});
  }
  report.classification = {"test-classifier", "0.3", &report.ct.series, "malignant", 0.87, 0.5};
  return report;
}

TEST_F(SrRtStruct, MeasurementReportPassesDciodvfyAndDsrdump) {
  const ReportCase report = SyntheticReport(dir_);
  const fs::path path = dir_ / "sr.dcm";
  const std::string uid = WriteMeasurementReport({report.segmentation}, {report.classification}, path);
  EXPECT_FALSE(uid.empty());

  if (fs::exists("/usr/bin/dciodvfy")) {
    ExpectDciodvfyFindsNoErrors(path);
  } else {
    ADD_FAILURE() << "dciodvfy (dicom3tools) is not installed";
  }
  const std::string dump = RunCommand("dsrdump +Pu +Pc '" + path.string() + "'", "dsrdump");
  for (const SegmentVolume& segment : report.segmentation.segments) {
    EXPECT_GT(segment.volume_ml, 0.1);
    EXPECT_NE(dump.find("\"" + segment.label.name + "\""), std::string::npos) << segment.label.name;
    EXPECT_NE(dump.find("\"" + Ds(segment.volume_ml) + "\" (ml,UCUM"), std::string::npos) << segment.volume_ml;
  }
  EXPECT_NE(dump.find(report.segmentation.seg_sop_instance_uid), std::string::npos) << "referenced SEG";
  EXPECT_NE(dump.find("(85756007,SCT,\"Tissue\")"), std::string::npos) << "default type code for the box";
  EXPECT_NE(dump.find("\"malignant\""), std::string::npos);
  EXPECT_NE(dump.find("(122157,DCM,\"Probability\")=\"0.87\" (1,UCUM"), std::string::npos);
  EXPECT_NE(dump.find("(122411,DCM,\"Threshold Value\")=\"0.5\""), std::string::npos);
  EXPECT_NE(dump.find("\"test-net\""), std::string::npos) << "algorithm name";
}

TEST_F(SrRtStruct, MeasurementReportReadsBackAsTid1500InTheSourceStudy) {
  const ReportCase report = SyntheticReport(dir_);
  const fs::path path = dir_ / "sr.dcm";
  const std::string uid = WriteMeasurementReport({report.segmentation}, {report.classification}, path);

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(path.c_str()).good());
  DSRDocument document;
  ASSERT_TRUE(document.read(*file.getDataset()).good());
  EXPECT_TRUE(document.isValid());
  EXPECT_EQ(document.getDocumentType(), DSRTypes::DT_EnhancedSR);
  OFString template_id, mapping_resource, value;
  ASSERT_TRUE(document.getTree().getTemplateIdentification(template_id, mapping_resource).good());
  EXPECT_EQ(template_id, "1500");
  EXPECT_EQ(mapping_resource, "DCMR");
  EXPECT_TRUE(document.getSOPInstanceUID(value).good());
  EXPECT_EQ(value, uid.c_str());
  EXPECT_TRUE(document.getStudyInstanceUID(value).good());
  EXPECT_EQ(value, report.ct.series.files.front().study_instance_uid.c_str());
  EXPECT_TRUE(document.getSeriesInstanceUID(value).good());
  EXPECT_NE(value, report.ct.series.series_instance_uid.c_str()) << "the report is a new series";

  // Two segment groups and one classification group under "Imaging Measurements".
  DSRDocumentTree& tree = document.getTree();
  size_t groups = 0;
  for (size_t node = tree.gotoNamedNode(DSRCodedEntryValue("125007", "DCM", "Measurement Group")); node > 0;
       node = tree.gotoNextNamedNode(DSRCodedEntryValue("125007", "DCM", "Measurement Group"))) {
    ++groups;
  }
  EXPECT_EQ(groups, 3u);
  // Every source image and the SEG are evidence.
  DSRSOPInstanceReferenceList& evidence = document.getCurrentRequestedProcedureEvidence();
  EXPECT_TRUE(evidence.gotoItem(UID_SegmentationStorage, report.segmentation.seg_sop_instance_uid.c_str()).good());
  for (const auto& source : report.ct.series.files) {
    EXPECT_TRUE(evidence.gotoItem(source.sop_class_uid.c_str(), source.sop_instance_uid.c_str()).good());
  }
}

TEST_F(SrRtStruct, MeasurementReportRefusesNothingAndMixedStudies) {
  const fs::path path = dir_ / "sr.dcm";
  try {
    WriteMeasurementReport({}, {}, path);
    ADD_FAILURE() << "an empty report was written";
  } catch (const Error& error) {
    EXPECT_EQ(error.Where(), path.string());
  }
  ReportCase report = SyntheticReport(dir_ / "a");
  Series other = report.ct.series;
  other.files.front().study_instance_uid = "1.2.3.4";
  report.classification.source = &other;
  try {
    WriteMeasurementReport({report.segmentation}, {report.classification}, path);
    ADD_FAILURE() << "a report over two studies was written";
  } catch (const Error& error) {
    EXPECT_EQ(error.Where(), path.string());
    EXPECT_NE(error.Reason().find("one study"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

// ---- RTSTRUCT ----

// Every contour point of the RTSTRUCT at PATH, placed by its referenced source image's own
// ImagePositionPatient, ImageOrientationPatient and PixelSpacing (not by the mask grid), lies in that
// image's plane at a pixel centre, and that pixel of MASK belongs to the contour's ROI. Returns the
// number of points checked.
size_t ExpectContoursOnTheirLabelVoxels(const fs::path& path, const Series& source, const LabelImage& mask) {
  DcmFileFormat file;
  EXPECT_TRUE(file.loadFile(path.c_str()).good());
  DcmSequenceOfItems* rois = nullptr;
  EXPECT_TRUE(file.getDataset()->findAndGetSequence(DCM_ROIContourSequence, rois).good());
  size_t points = 0, wrong = 0;
  for (unsigned long r = 0; rois && r < rois->card(); ++r) {
    const int roi = std::stoi(GetString(*rois->getItem(r), DCM_ReferencedROINumber));
    DcmSequenceOfItems* contours = nullptr;
    EXPECT_TRUE(rois->getItem(r)->findAndGetSequence(DCM_ContourSequence, contours).good());
    for (unsigned long c = 0; contours && c < contours->card(); ++c) {
      DcmItem& contour = *contours->getItem(c);
      DcmItem* image = nullptr;
      EXPECT_TRUE(contour.findAndGetSequenceItem(DCM_ContourImageSequence, image).good()) << "ROI " << roi;
      if (!image) continue;
      const std::string uid = GetString(*image, DCM_ReferencedSOPInstanceUID);
      size_t k = 0;
      while (k < source.slices.size() && source.files[source.slices[k].file].sop_instance_uid != uid) ++k;
      EXPECT_LT(k, source.slices.size()) << "unknown instance " << uid;
      if (k == source.slices.size()) continue;
      const dicom::FrameInfo& frame = source.files[source.slices[k].file].frames.front();
      const auto& o = *frame.orientation;
      const Vec3 row{o[0], o[1], o[2]}, column{o[3], o[4], o[5]}, normal = dicom::Cross(row, column);
      DcmElement* data = nullptr;
      EXPECT_TRUE(contour.findAndGetElement(DCM_ContourData, data).good());
      for (unsigned long p = 0; data && p + 2 < data->getVM(); p += 3, ++points) {
        Vec3 offset;
        for (unsigned long a = 0; a < 3; ++a) {
          Float64 value = 0;
          EXPECT_TRUE(data->getFloat64(value, p + a).good());
          offset[a] = value - (*frame.position)[a];
        }
        const double x = dicom::Dot(offset, row) / (*frame.pixel_spacing)[1];
        const double y = dicom::Dot(offset, column) / (*frame.pixel_spacing)[0];
        EXPECT_NEAR(dicom::Dot(offset, normal), 0.0, 1e-3) << "ROI " << roi << " off its image's plane";
        EXPECT_NEAR(x, std::round(x), 1e-3);
        EXPECT_NEAR(y, std::round(y), 1e-3);
        const Index index{{std::lround(x), std::lround(y), static_cast<Index::IndexValueType>(k)}};
        wrong += !mask.GetLargestPossibleRegion().IsInside(index) || mask.GetPixel(index) != roi;
      }
    }
  }
  EXPECT_EQ(wrong, 0u) << "contour points off their label's voxels";
  return points;
}

TEST_F(SrRtStruct, RtStructReadsBackVoxelForVoxelAndPassesDciodvfy) {
  const LoadedSeries ct = SyntheticCtWithMask(dir_);
  const auto labels = Labels();
  const fs::path path = dir_ / "rtstruct.dcm";
  EXPECT_FALSE(WriteRtStruct(*ct.mask, labels, ct.series, "test-net", path).empty());

  const auto read_back = ReadRtStruct(path, *ct.mask);
  EXPECT_GT(CountValue(*read_back, 1), 0u);
  EXPECT_GT(CountValue(*read_back, 2), 0u);
  EXPECT_EQ(DifferentVoxels(*ct.mask, *read_back), 0u);
  EXPECT_NO_THROW(CheckSameGeometry(*ct.mask, *read_back, labels, "synthetic CT"));
  EXPECT_GT(ExpectContoursOnTheirLabelVoxels(path, ct.series, *ct.mask), 0u);

  DcmFileFormat file;
  ASSERT_TRUE(file.loadFile(path.c_str()).good());
  DcmDataset& rt = *file.getDataset();
  EXPECT_EQ(GetString(rt, DCM_SOPClassUID), UID_RTStructureSetStorage);
  EXPECT_EQ(GetString(rt, DCM_StudyInstanceUID), ct.series.files.front().study_instance_uid);
  DcmFileFormat source;
  ASSERT_TRUE(source.loadFile(ct.series.files.front().path.c_str()).good());
  for (const DcmTagKey& tag : {DCM_PatientID, DCM_PatientName, DCM_StudyID, DCM_StudyDate}) {
    EXPECT_EQ(GetString(rt, tag), GetString(*source.getDataset(), tag)) << DcmTag(tag).getTagName();
  }
  DcmSequenceOfItems* rois = nullptr;
  ASSERT_TRUE(rt.findAndGetSequence(DCM_StructureSetROISequence, rois).good());
  ASSERT_EQ(rois->card(), 2u) << "one ROI per label present";
  EXPECT_EQ(GetString(*rois->getItem(0), DCM_ROINumber), "1");
  EXPECT_EQ(GetString(*rois->getItem(0), DCM_ROIName), "lesion");
  EXPECT_EQ(GetString(*rois->getItem(1), DCM_ROIName), "box");
  EXPECT_EQ(GetString(*rois->getItem(1), DCM_ROIGenerationAlgorithm), "AUTOMATIC");
  EXPECT_EQ(GetString(*rois->getItem(0), DCM_ReferencedFrameOfReferenceUID), ct.series.files.front().frame_of_reference_uid);

  if (fs::exists("/usr/bin/dciodvfy")) {
    ExpectDciodvfyFindsNoErrors(path);
  } else {
    ADD_FAILURE() << "dciodvfy (dicom3tools) is not installed";
  }
}

// A frame with a hole holding an island, a one-voxel diagonal line and a single voxel: the convention
// in rtstruct.h reads them all back exactly.
TEST_F(SrRtStruct, RtStructKeepsHolesIslandsAndThinParts) {
  const LoadedSeries ct = LoadOnlySeries(synth::WriteSyntheticCt(dir_, synth::VolumeSpec{48, 40, 12}, 12));
  LabelImage& mask = *ct.mask;
  for (Index::IndexValueType z = 3; z <= 6; ++z) {
    for (Index::IndexValueType y = 5; y <= 25; ++y)
      for (Index::IndexValueType x = 5; x <= 25; ++x) {
        const bool hole = x >= 9 && x <= 21 && y >= 9 && y <= 21;
        const bool island = x >= 13 && x <= 17 && y >= 13 && y <= 17;
        if (!hole || island) mask.SetPixel({{x, y, z}}, 1);
      }
    for (Index::IndexValueType i = 0; i < 10; ++i) mask.SetPixel({{30 + i, 5 + i, z}}, 2);
    mask.SetPixel({{44, 35, z}}, 2);
  }
  const std::vector<model::Label> labels{MakeLabel(1, "frame", {200, 100, 0}), MakeLabel(2, "thin", {0, 100, 200})};
  const fs::path path = dir_ / "rtstruct.dcm";
  WriteRtStruct(mask, labels, ct.series, "test-net", path);
  EXPECT_EQ(DifferentVoxels(mask, *ReadRtStruct(path, mask)), 0u);
  ExpectContoursOnTheirLabelVoxels(path, ct.series, mask);
}

TEST_F(SrRtStruct, RtStructRefusesUnnamedValuesAndEmptyMasks) {
  const LoadedSeries ct = LoadOnlySeries(synth::WriteSyntheticCt(dir_, synth::VolumeSpec{16, 16, 4}, 13));
  const fs::path path = dir_ / "rtstruct.dcm";
  const std::vector<model::Label> labels{MakeLabel(1, "one", {255, 0, 0})};
  EXPECT_THROW(WriteRtStruct(*ct.mask, labels, ct.series, "test-net", path), DicomError) << "no ROI";
  ct.mask->SetPixel({{3, 3, 1}}, 7);
  EXPECT_THROW(WriteRtStruct(*ct.mask, labels, ct.series, "test-net", path), ModelError) << "value 7 has no label";
  EXPECT_FALSE(fs::exists(path));
}

// ---- oblique, feet-first source ----

Vec3 Rotated(const Vec3& v, double about_z_deg, double about_x_deg) {
  const double z = about_z_deg * M_PI / 180, x = about_x_deg * M_PI / 180;
  const Vec3 r{std::cos(z) * v[0] - std::sin(z) * v[1], std::sin(z) * v[0] + std::cos(z) * v[1], v[2]};
  return {r[0], std::cos(x) * r[1] - std::sin(x) * r[2], std::sin(x) * r[1] + std::cos(x) * r[2]};
}

std::string Decimals(const std::vector<double>& values) {
  std::ostringstream text;
  text.precision(10);
  for (size_t i = 0; i < values.size(); ++i) text << (i ? "\\" : "") << values[i];
  return text.str();
}

// A CT series of 24 x 20 pixels (0.8 mm columns, 0.6 mm rows) and 12 slices 1.5 mm apart, rotated 25
// degrees about z and 15 about x, positions stepping against the normal (feet first), instance numbers
// counting the other way.
void WriteObliqueFeetFirstSeries(const fs::path& folder) {
  constexpr Uint16 kRows = 20, kColumns = 24;
  constexpr int kSlices = 12;
  fs::create_directories(folder);
  char study[100], series[100], frame_of_reference[100];
  dcmGenerateUniqueIdentifier(study);
  dcmGenerateUniqueIdentifier(series);
  dcmGenerateUniqueIdentifier(frame_of_reference);
  const Vec3 row = Rotated({1, 0, 0}, 25, 15), column = Rotated({0, 1, 0}, 25, 15);
  const Vec3 normal = dicom::Cross(row, column);
  const Vec3 origin{-40.5, 25.25, 110.0};
  for (int k = 0; k < kSlices; ++k) {
    const double along = -1.5 * k;
    DcmFileFormat file;
    DcmDataset& ds = *file.getDataset();
    testing::PutIdentity(ds, UID_CTImageStorage, study, "CT");
    ds.putAndInsertString(DCM_SeriesInstanceUID, series);
    ds.putAndInsertString(DCM_FrameOfReferenceUID, frame_of_reference);
    const std::pair<DcmTagKey, const char*> study_attributes[] = {
        {DCM_PatientName, "Oblique^Test"}, {DCM_PatientID, "oblique-feet-first"}, {DCM_PatientBirthDate, ""},
        {DCM_PatientSex, "O"}, {DCM_StudyDate, "20240102"}, {DCM_StudyTime, "101500"}, {DCM_StudyID, "1"},
        {DCM_ReferringPhysicianName, ""}, {DCM_AccessionNumber, ""}};
    for (const auto& [tag, value] : study_attributes) ds.putAndInsertString(tag, value);
    ds.putAndInsertString(DCM_InstanceNumber, std::to_string(k + 1).c_str());
    ds.putAndInsertString(DCM_ImagePositionPatient,
                          Decimals({origin[0] + along * normal[0], origin[1] + along * normal[1],
                                    origin[2] + along * normal[2]}).c_str());
    ds.putAndInsertString(DCM_ImageOrientationPatient,
                          Decimals({row[0], row[1], row[2], column[0], column[1], column[2]}).c_str());
    ds.putAndInsertString(DCM_PixelSpacing, "0.6\\0.8");
    ds.putAndInsertString(DCM_SliceThickness, "1.5");
    testing::PutPixelModule(ds, kRows, kColumns, 1, 16, 16, "MONOCHROME2");
    std::vector<Uint16> pixels(size_t{kRows} * kColumns, static_cast<Uint16>(100 + k));
    ds.putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
    ASSERT_TRUE(file.saveFile((folder / ("slice_" + std::to_string(k + 1) + ".dcm")).c_str(), EXS_LittleEndianExplicit).good());
  }
}

TEST_F(SrRtStruct, RtStructOnObliqueFeetFirstSeriesKeepsCentroidAndBoundingBox) {
  WriteObliqueFeetFirstSeries(dir_ / "series");
  const LoadedSeries loaded = LoadOnlySeries(dir_ / "series");
  ASSERT_EQ(loaded.mask->GetLargestPossibleRegion().GetSize(), (LabelImage::SizeType{{24, 20, 12}}));
  // Off-centre along every axis, so a flip or a swap of axes would move them.
  DrawSphereAndBox(*loaded.mask, {{7, 6, 3}}, 2.6, {{15, 11, 6}}, {{20, 16, 10}});
  const std::vector<model::Label> labels{MakeLabel(1, "sphere", {200, 100, 0}), MakeLabel(2, "box", {0, 100, 200})};

  const fs::path path = dir_ / "rtstruct.dcm";
  WriteRtStruct(*loaded.mask, labels, loaded.series, "test-net", path);
  const auto read_back = ReadRtStruct(path, *loaded.mask);
  EXPECT_NO_THROW(CheckSameGeometry(*loaded.mask, *read_back, labels, "oblique feet-first"));
  EXPECT_EQ(DifferentVoxels(*loaded.mask, *read_back), 0u);
  EXPECT_GT(ExpectContoursOnTheirLabelVoxels(path, loaded.series, *loaded.mask), 0u);
  if (fs::exists("/usr/bin/dciodvfy")) ExpectDciodvfyFindsNoErrors(path);
}

}  // namespace
}  // namespace medpipe::exporter
