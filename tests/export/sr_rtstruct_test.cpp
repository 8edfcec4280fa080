// DICOM SR (TID 1500 measurement report) and RTSTRUCT export: written from masks on loaded series,
// checked with dciodvfy and dsrdump, read back with DCMTK, and contours placed right on an oblique,
// feet-first series.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cmath>
#include <cstdio>

#include "export_test_support.h"
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
using namespace export_testing;

// A volume in millilitres as the SR writes it: 10 significant digits.
std::string Ds(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

class SrRtStruct : public testing::TempDirTest {};

// ---- SR ----

struct ReportCase {
  MaskedSeries ct;
  dicom::SourceSeries source;
  SegmentationFindings segmentation;
  ClassificationFinding classification;
};

const std::string kSha256(64, 'a');

ReportCase SyntheticReport(const fs::path& dir) {
  ReportCase report{SyntheticCtWithMask(dir), {}, {}, {}};
  report.source = SourceOf(report.ct.series);
  const auto labels = ThreeLabels();
  const double voxel_ml = 2.0 / 1000.0;
  char uid[100];
  report.segmentation = {dcmGenerateUniqueIdentifier(uid), "", {"test-net", "1.2.0", kSha256}, &report.source, {}};
  report.segmentation.seg_series_instance_uid = dcmGenerateUniqueIdentifier(uid);
  for (int i = 0; i < 2; ++i) {
    report.segmentation.segments.push_back(
        {i + 1, labels[i], CountValue(*report.ct.mask, labels[i].value) * voxel_ml, MeanIntensity{40.5 + i, true}});
  }
  const Decision malignant{"malignant", 0.87, 0.5, Verdict::Positive, "malignant"};
  report.classification = {{"test-classifier", "0.3", kSha256}, &report.source, malignant,
                           {"86049000", "SCT", "Malignant neoplasm"}};
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
  EXPECT_NE(dump.find("(86049000,SCT,\"Malignant neoplasm\")=(52101004,SCT,\"Present\")"), std::string::npos);
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
  const dicom::SourceSeries other_source = SourceOf(other);
  report.classification.source = &other_source;
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

// Whether any of the (up to 4) pixels of MASK slice K that share the corner at half-integer pixel
// coordinates (X, Y) holds VALUE.
bool CornerTouches(const LabelImage& mask, double x, double y, Index::IndexValueType k, int value) {
  for (const auto column : {std::floor(x), std::ceil(x)})
    for (const auto row : {std::floor(y), std::ceil(y)}) {
      const Index index{{std::lround(column), std::lround(row), k}};
      if (mask.GetLargestPossibleRegion().IsInside(index) && mask.GetPixel(index) == value) return true;
    }
  return false;
}

// Every contour point of the RTSTRUCT at PATH, placed by its referenced source image's own
// ImagePositionPatient, ImageOrientationPatient and PixelSpacing (not by the mask grid), lies in that
// image's plane at a pixel corner (half-integer pixel coordinates), and a pixel of MASK at that corner
// belongs to the contour's ROI. Returns the number of points checked.
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
        EXPECT_NEAR(x - std::floor(x), 0.5, 1e-3) << "ROI " << roi << " off a pixel corner";
        EXPECT_NEAR(y - std::floor(y), 0.5, 1e-3) << "ROI " << roi << " off a pixel corner";
        wrong += !CornerTouches(mask, x, y, static_cast<Index::IndexValueType>(k), roi);
      }
    }
  }
  EXPECT_EQ(wrong, 0u) << "contour points on no voxel of their label";
  return points;
}

TEST_F(SrRtStruct, RtStructReadsBackVoxelForVoxelAndPassesDciodvfy) {
  const MaskedSeries ct = SyntheticCtWithMask(dir_);
  const auto labels = ThreeLabels();
  const fs::path path = dir_ / "rtstruct.dcm";
  EXPECT_FALSE(WriteRtStruct(*ct.mask, labels, SourceOf(ct.series), "test-net", path).empty());

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
  EXPECT_EQ(GetString(*rois->getItem(0), DCM_ROIName), "Lesion") << "the structure its type code names";
  EXPECT_EQ(GetString(*rois->getItem(1), DCM_ROIName), "box");
  EXPECT_EQ(GetString(*rois->getItem(1), DCM_ROIGenerationAlgorithm), "AUTOMATIC");
  EXPECT_EQ(GetString(*rois->getItem(0), DCM_ReferencedFrameOfReferenceUID), ct.series.files.front().frame_of_reference_uid);
  DcmSequenceOfItems* observations = nullptr;
  ASSERT_TRUE(rt.findAndGetSequence(DCM_RTROIObservationsSequence, observations).good());
  ASSERT_EQ(observations->card(), 2u);
  // Type 2: empty for the lesion (no term of PS3.3 C.8.8.8.1 fits it), ORGAN for the anatomical box.
  EXPECT_TRUE(observations->getItem(0)->tagExists(DCM_RTROIInterpretedType));
  EXPECT_EQ(GetString(*observations->getItem(0), DCM_RTROIInterpretedType), "");
  EXPECT_EQ(GetString(*observations->getItem(1), DCM_RTROIInterpretedType), "ORGAN");

  if (fs::exists("/usr/bin/dciodvfy")) {
    ExpectDciodvfyFindsNoErrors(path);
  } else {
    ADD_FAILURE() << "dciodvfy (dicom3tools) is not installed";
  }
}

// A frame with a hole holding an island, a one-voxel diagonal line and a single voxel: the convention
// in rtstruct.h reads them all back exactly.
TEST_F(SrRtStruct, RtStructKeepsHolesIslandsAndThinParts) {
  const MaskedSeries ct = SyntheticCtWithFrameAndThinParts(dir_);
  const LabelImage& mask = *ct.mask;
  const fs::path path = dir_ / "rtstruct.dcm";
  WriteRtStruct(mask, FrameAndThinLabels(), SourceOf(ct.series), "test-net", path);
  EXPECT_EQ(DifferentVoxels(mask, *ReadRtStruct(path, mask)), 0u);
  ExpectContoursOnTheirLabelVoxels(path, ct.series, mask);
}

TEST_F(SrRtStruct, RtStructRefusesUnnamedValuesAndEmptyMasks) {
  const MaskedSeries ct = LoadOnlySeriesWithEmptyMask(synth::WriteSyntheticCt(dir_, synth::VolumeSpec{16, 16, 4}, 13));
  const fs::path path = dir_ / "rtstruct.dcm";
  const std::vector<model::Label> labels{MakeLabel(1, "one", {255, 0, 0})};
  EXPECT_THROW(WriteRtStruct(*ct.mask, labels, SourceOf(ct.series), "test-net", path), DicomError) << "no ROI";
  ct.mask->SetPixel({{3, 3, 1}}, 7);
  EXPECT_THROW(WriteRtStruct(*ct.mask, labels, SourceOf(ct.series), "test-net", path), ModelError) << "value 7 has no label";
  EXPECT_FALSE(fs::exists(path));
}

// ---- oblique, feet-first source ----

TEST_F(SrRtStruct, RtStructOnObliqueFeetFirstSeriesKeepsCentroidAndBoundingBox) {
  WriteObliqueFeetFirstSeries(dir_ / "series");
  const MaskedSeries loaded = LoadOnlySeriesWithEmptyMask(dir_ / "series");
  ASSERT_EQ(loaded.mask->GetLargestPossibleRegion().GetSize(), (LabelImage::SizeType{{24, 20, 12}}));
  // Off-centre along every axis, so a flip or a swap of axes would move them.
  DrawSphereAndBox(*loaded.mask, {{7, 6, 3}}, 2.6, {{15, 11, 6}}, {{20, 16, 10}});
  const std::vector<model::Label> labels{MakeLabel(1, "sphere", {200, 100, 0}), MakeLabel(2, "box", {0, 100, 200})};

  const fs::path path = dir_ / "rtstruct.dcm";
  WriteRtStruct(*loaded.mask, labels, SourceOf(loaded.series), "test-net", path);
  const auto read_back = ReadRtStruct(path, *loaded.mask);
  EXPECT_NO_THROW(CheckSameGeometry(*loaded.mask, *read_back, labels, "oblique feet-first"));
  EXPECT_EQ(DifferentVoxels(*loaded.mask, *read_back), 0u);
  EXPECT_GT(ExpectContoursOnTheirLabelVoxels(path, loaded.series, *loaded.mask), 0u);
  if (fs::exists("/usr/bin/dciodvfy")) ExpectDciodvfyFindsNoErrors(path);
}

}  // namespace
}  // namespace medpipe::exporter
