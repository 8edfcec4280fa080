// What independent readers see in medpipe's SR and SEG: the classification group states the one
// decision every output prints, segments are told apart by codes, every source image is in the image
// library, UIDs are medpipe's own (2.25), and de-identified sources keep their mark. The SR is read
// with pydicom (tests/tools/sr_content.py), not with DCMTK, which wrote it.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcuid.h>

#include <sstream>

#include "export_test_support.h"
#include "medpipe/export/dicom_seg.h"
#include "medpipe/export/dicom_sr.h"
#include "medpipe/export/rtstruct.h"
#include "test_support.h"

namespace medpipe::exporter {
namespace {

namespace fs = std::filesystem;
using namespace export_testing;

const std::string kSha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ModelIdentity kClassifier{"pneumonia-cnn", "2.1", kSha256};
const model::Code kPneumonia{"233604007", "SCT", "Pneumonia"};

// The SR's content tree as pydicom reads it: one line per content item.
std::string SrContent(const fs::path& path) {
  return RunCommand("/usr/bin/python3 '" MEDPIPE_SOURCE_DIR "/tests/tools/sr_content.py' '" + path.string() + "'", "sr");
}

// Whether a line of CONTENT holds every one of PARTS.
bool HasLine(const std::string& content, const std::vector<std::string>& parts) {
  std::istringstream lines(content);
  for (std::string line; std::getline(lines, line);) {
    bool all = true;
    for (const auto& part : parts) all = all && line.find(part) != std::string::npos;
    if (all) return true;
  }
  return false;
}

// One pydicom attribute path of the DICOM file at PATH, e.g. "SeriesDescription".
std::string Attribute(const fs::path& path, const std::string& expression) {
  std::string value = RunCommand("/usr/bin/python3 -c \"import pydicom; d = pydicom.dcmread('" + path.string() +
                                     "'); print(" + expression + ")\"",
                                 "pydicom");
  while (!value.empty() && value.back() == '\n') value.pop_back();
  return value;
}

class SrAsReadByPydicom : public testing::TempDirTest {
 protected:
  void SetUp() override {
    testing::TempDirTest::SetUp();
    ct_ = SyntheticCtWithMask(dir_ / "ct");
    source_ = SourceOf(ct_.series);
  }

  ClassificationFinding Classification(double probability, Verdict verdict, const model::Code& code) const {
    return {kClassifier, &source_, {"pneumonia", probability, 0.0878, verdict, "normal"}, code};
  }

  MaskedSeries ct_;
  dicom::SourceSeries source_;
};

TEST_F(SrAsReadByPydicom, ClassificationGroupStatesTheDecidedClassItsProbabilityThresholdAndPresence) {
  for (const bool positive : {true, false}) {
    SCOPED_TRACE(positive ? "positive" : "negative");
    const double probability = positive ? 0.35 : 0.05;
    const fs::path path = dir_ / (positive ? "positive.dcm" : "negative.dcm");
    WriteMeasurementReport({}, {Classification(probability, positive ? Verdict::Positive : Verdict::Negative,
                                               kPneumonia)},
                           path);
    const std::string content = SrContent(path);
    EXPECT_TRUE(HasLine(content, {"TEXT 112039,DCM,\"Tracking Identifier\" = pneumonia-cnn: pneumonia"}));
    EXPECT_TRUE(HasLine(content, {"CODE 121071,DCM,\"Finding\" = 233604007,SCT,\"Pneumonia\""}));
    EXPECT_TRUE(HasLine(content, {"NUM 122157,DCM,\"Probability\" = " + std::string(positive ? "0.35" : "0.05") + " "}));
    EXPECT_TRUE(HasLine(content, {"NUM 122411,DCM,\"Threshold Value\" = 0.0878 "}));
    EXPECT_TRUE(HasLine(content, {"CODE 233604007,SCT,\"Pneumonia\" = ",
                                  positive ? "52101004,SCT,\"Present\"" : "2667000,SCT,\"Absent\""}));
    EXPECT_TRUE(HasLine(content, {"111001,DCM,\"Algorithm Name\" = pneumonia-cnn"}));
    EXPECT_TRUE(HasLine(content, {"111003,DCM,\"Algorithm Version\" = 2.1"}));
    EXPECT_TRUE(HasLine(content, {"111002,DCM,\"Algorithm Parameters\" = model.pt sha256 " + kSha256}));
    // The most probable class ("normal") is not the decision and must not be reported as the finding.
    EXPECT_FALSE(HasLine(content, {"normal"})) << content;
  }
}

TEST_F(SrAsReadByPydicom, ClassWithoutCodeIsStatedAsTextWithItsVerdict) {
  const fs::path path = dir_ / "sr.dcm";
  WriteMeasurementReport({}, {Classification(0.05, Verdict::Negative, {})}, path);
  const std::string content = SrContent(path);
  EXPECT_TRUE(HasLine(content, {"TEXT 121071,DCM,\"Finding\" = pneumonia: negative"})) << content;
  EXPECT_FALSE(HasLine(content, {"CODE 121071,DCM,\"Finding\""}));
}

TEST_F(SrAsReadByPydicom, SegmentGroupsTellStructuresApartBySiteModifierLateralityAndMean) {
  model::Label left = MakeLabel(1, "left anterior", {255, 0, 0}, {"91723000", "SCT", "Anatomical Structure"},
                                {"5366008", "SCT", "Hippocampus"});
  left.modifier = model::Code{"255549009", "SCT", "Anterior"};
  left.laterality = model::Laterality::Left;
  model::Label unknown = left;
  unknown.value = 2;
  unknown.name = "posterior";
  unknown.modifier = model::Code{"255551008", "SCT", "Posterior"};
  unknown.laterality = model::Laterality::Unknown;
  SegmentationFindings seg{"1.2.3.4", "1.2.3.5", {"hippo-net", "1.0", kSha256}, &source_, {}};
  seg.segments = {{1, left, 1.5, MeanIntensity{40.5, true}}, {2, unknown, 1.25, MeanIntensity{38.25, true}}};
  const fs::path path = dir_ / "sr.dcm";
  WriteMeasurementReport({seg}, {}, path);
  const std::string content = SrContent(path);
  EXPECT_TRUE(HasLine(content, {"CODE 363698007,SCT,\"Finding Site\" = 5366008,SCT,\"Hippocampus\""}));
  EXPECT_TRUE(HasLine(content, {"CODE 272741003,SCT,\"Laterality\" = 7771000,SCT,\"Left\""})) << content;
  EXPECT_TRUE(HasLine(content, {"\"Topographical modifier\" = 255549009,SCT,\"Anterior\""}));
  EXPECT_TRUE(HasLine(content, {"\"Topographical modifier\" = 255551008,SCT,\"Posterior\""}));
  EXPECT_FALSE(HasLine(content, {"24028007"})) << "no side is invented for the unknown one";
  EXPECT_TRUE(HasLine(content, {"NUM 373098007,SCT,\"Mean\" = 40.5 [hnsf'U],UCUM"}));
  EXPECT_TRUE(HasLine(content, {"NUM 118565006,SCT,\"Volume\" = 1.25 ml,UCUM"}));
}

TEST_F(SrAsReadByPydicom, ImageLibraryListsEverySourceImage) {
  const fs::path path = dir_ / "sr.dcm";
  WriteMeasurementReport({}, {Classification(0.35, Verdict::Positive, kPneumonia)}, path);
  const std::string content = SrContent(path);
  EXPECT_TRUE(HasLine(content, {"CONTAINER 111028,DCM,\"Image Library\""}));
  ASSERT_FALSE(ct_.series.files.empty());
  for (const auto& file : ct_.series.files) {
    EXPECT_TRUE(HasLine(content, {"3 CONTAINS IMAGE", file.sop_instance_uid})) << file.sop_instance_uid;
  }
}

// Every UID medpipe issues is a 2.25 UUID; DCMTK's root appears only as its implementation class.
void ExpectOwnUids(const fs::path& path) {
  for (const char* attribute : {"SOPInstanceUID", "SeriesInstanceUID"}) {
    EXPECT_EQ(Attribute(path, std::string("d.") + attribute).rfind("2.25.", 0), 0u) << path << " " << attribute;
  }
  std::istringstream dump(RunCommand("dcmdump +P ImplementationClassUID -q '" + path.string() + "'; dcmdump '" +
                                         path.string() + "' | grep -v '(0002,0012)'",
                                     "dcmdump"));
  for (std::string line; std::getline(dump, line);) {
    if (line.find("(0002,0012)") == std::string::npos) {
      EXPECT_EQ(line.find("1.2.276.0.7230010.3"), std::string::npos) << line;
    }
  }
}

TEST_F(SrAsReadByPydicom, OutputsIssue225UidsAndNameTheirSourceSeries) {
  const fs::path sr = dir_ / "sr.dcm", seg = dir_ / "seg.dcm", rt = dir_ / "rt.dcm";
  const auto labels = ThreeLabels();
  const WrittenObject written = WriteDicomSeg(*ct_.mask, labels, source_, {"test-net", "1.2.0"}, seg);
  WriteMeasurementReport({{written.sop_instance_uid, written.series_instance_uid, {"test-net", "1.2.0", kSha256}, &source_,
                           {{1, labels[0], 2.0, std::nullopt}}}},
                         {}, sr);
  WriteRtStruct(*ct_.mask, labels, source_, "test-net", rt);
  ASSERT_FALSE(ct_.series.description.empty());
  for (const fs::path& path : {seg, sr, rt}) {
    ExpectOwnUids(path);
    EXPECT_NE(Attribute(path, "d.SeriesDescription").find("'" + ct_.series.description + "'"), std::string::npos) << path;
  }
}

TEST_F(SrAsReadByPydicom, RtStructRoisNameTheStructureWithItsPartAndSide) {
  model::Label label = MakeLabel(1, "anterior", {255, 0, 0}, {"91723000", "SCT", "Anatomical Structure"},
                                 {"5366008", "SCT", "Hippocampus"});
  label.modifier = model::Code{"255549009", "SCT", "Anterior"};
  label.laterality = model::Laterality::Left;
  FillBox(*ct_.mask, {{0, 0, 0}}, {{47, 39, 11}}, 0);
  FillBox(*ct_.mask, {{5, 5, 2}}, {{9, 9, 4}}, 1);
  const fs::path rt = dir_ / "rt.dcm";
  WriteRtStruct(*ct_.mask, {label}, source_, "test-net", rt);
  EXPECT_EQ(Attribute(rt, "d.StructureSetROISequence[0].ROIName"), "Left Anterior Hippocampus");
  EXPECT_EQ(Attribute(rt, "d.RTROIObservationsSequence[0].ROIObservationLabel"), "anterior");
  EXPECT_EQ(Attribute(rt, "d.RTROIObservationsSequence[0].RTROIInterpretedType"), "ORGAN");
}

TEST_F(SrAsReadByPydicom, SegSegmentsCarryModifierLateralityAndDescription) {
  model::Label label = MakeLabel(1, "lesion", {255, 0, 0}, {"91723000", "SCT", "Anatomical Structure"},
                                 {"5366008", "SCT", "Hippocampus"});
  label.modifier = model::Code{"255549009", "SCT", "Anterior"};
  label.laterality = model::Laterality::Right;
  const fs::path seg = dir_ / "seg.dcm";
  FillBox(*ct_.mask, {{0, 0, 0}}, {{47, 39, 11}}, 0);
  FillBox(*ct_.mask, {{5, 5, 2}}, {{9, 9, 4}}, 1);
  WriteDicomSeg(*ct_.mask, {label}, source_, {"test-net", "1.2.0"}, seg);
  EXPECT_EQ(Attribute(seg, "[m.CodeValue for m in d.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence]"),
            "['255549009', '24028007']");
  EXPECT_EQ(Attribute(seg, "d.SegmentSequence[0].SegmentDescription"), "Right Anterior Hippocampus");
}

TEST_F(SrAsReadByPydicom, DeidentifiedSourcesMarkTheOutputs) {
  const fs::path folder = dir_ / "deidentified";
  WriteSeries(folder, {"Anonymous", "ANON-1", {1, 0, 0}, {0, 1, 0}, false, 16, 16, 4, 1.0, 1.0, 2.0,
                       [](size_t, int) -> Uint16 { return 100; },
                       {{DCM_PatientIdentityRemoved, "YES"},
                        {DCM_DeidentificationMethod, "Basic Application Confidentiality Profile"},
                        {DCM_SeriesDescription, "anonymised CT"}}});
  const MaskedSeries marked = LoadOnlySeriesWithEmptyMask(folder);
  FillBox(*marked.mask, {{2, 2, 1}}, {{6, 6, 2}}, 1);
  const dicom::SourceSeries source = SourceOf(marked.series);
  const auto labels = ThreeLabels();
  const fs::path seg = dir_ / "seg.dcm", sr = dir_ / "sr.dcm", rt = dir_ / "rt.dcm", plain = dir_ / "plain.dcm";
  const WrittenObject written = WriteDicomSeg(*marked.mask, labels, source, {"test-net", "1.2.0"}, seg);
  WriteRtStruct(*marked.mask, labels, source, "test-net", rt);
  WriteMeasurementReport({{written.sop_instance_uid, written.series_instance_uid, {"test-net", "1.2.0", kSha256}, &source,
                           {{1, labels[0], 2.0, std::nullopt}}}},
                         {}, sr);
  for (const fs::path& path : {seg, sr, rt}) {
    EXPECT_EQ(Attribute(path, "d.PatientIdentityRemoved"), "YES") << path;
    EXPECT_EQ(Attribute(path, "d.DeidentificationMethod"), "Basic Application Confidentiality Profile") << path;
  }
  WriteMeasurementReport({}, {Classification(0.35, Verdict::Positive, kPneumonia)}, plain);
  EXPECT_EQ(Attribute(plain, "d.get('PatientIdentityRemoved', 'absent')"), "absent") << "an identified source stays as it is";
}

}  // namespace
}  // namespace medpipe::exporter
