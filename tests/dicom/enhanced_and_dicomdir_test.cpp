// Enhanced multi-frame geometry from functional groups, and archives reached through a DICOMDIR.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcvrfl.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "medpipe/dicom/diffusion_table.h"
#include "medpipe/dicom/series_loader.h"
#include "medpipe/synth/synthetic_study.h"
#include "test_support.h"

namespace medpipe::dicom {
namespace {

namespace fs = std::filesystem;

using Ingest = testing::TempDirTest;

DcmItem* NewGroupItem(DcmItem& parent, const DcmTagKey& sequence, unsigned long index) {
  DcmItem* item = nullptr;
  parent.findOrCreateSequenceItem(sequence, item, static_cast<long>(index));
  return item;
}

// An Enhanced CT object of 4 frames of 3 x 2 pixels, stored in reverse slice order, coronal
// (rows along -z), 0.5 x 0.8 mm pixels, 2.5 mm apart, each frame with its own rescale.
void WriteEnhancedCt(const fs::path& path) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_EnhancedCTImageStorage, "1.2.826.0.1.3680043.10.1511.9.1", "CT");
  ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\AXIAL\\NONE");
  testing::PutPixelModule(*ds, 2, 3, 1, 16, 12, "MONOCHROME2");
  ds->putAndInsertString(DCM_NumberOfFrames, "4");

  DcmItem* shared = NewGroupItem(*ds, DCM_SharedFunctionalGroupsSequence, 0);
  NewGroupItem(*shared, DCM_PixelMeasuresSequence, 0)->putAndInsertString(DCM_PixelSpacing, "0.8\\0.5");
  NewGroupItem(*shared, DCM_PlaneOrientationSequence, 0)->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\0\\-1");
  std::vector<Uint16> pixels;
  for (int frame = 0; frame < 4; ++frame) {
    const int slice = 3 - frame;  // stored last slice first
    DcmItem* group = NewGroupItem(*ds, DCM_PerFrameFunctionalGroupsSequence, frame);
    // Normal of row (1,0,0) x column (0,0,-1) is (0,1,0): slices step along +y.
    const std::string position = "-10\\" + std::to_string(20 + 2.5 * slice) + "\\30";
    NewGroupItem(*group, DCM_PlanePositionSequence, 0)->putAndInsertString(DCM_ImagePositionPatient, position.c_str());
    DcmItem* rescale = NewGroupItem(*group, DCM_PixelValueTransformationSequence, 0);
    rescale->putAndInsertString(DCM_RescaleSlope, "2");
    rescale->putAndInsertString(DCM_RescaleIntercept, std::to_string(-1000 - slice).c_str());
    for (int i = 0; i < 6; ++i) pixels.push_back(static_cast<Uint16>(100 * slice + i));
  }
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
}

// The header of an axial Enhanced MR object of FRAMES frames of 2 x 2 one-millimetre pixels.
DcmDataset* StartEnhancedMr(DcmFileFormat& file, const char* series_uid, const char* frames) {
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_EnhancedMRImageStorage, series_uid, "MR");
  testing::PutPixelModule(*ds, 2, 2, 1, 16, 12, "MONOCHROME2");
  ds->putAndInsertString(DCM_NumberOfFrames, frames);
  DcmItem* shared = NewGroupItem(*ds, DCM_SharedFunctionalGroupsSequence, 0);
  NewGroupItem(*shared, DCM_PixelMeasuresSequence, 0)->putAndInsertString(DCM_PixelSpacing, "1\\1");
  NewGroupItem(*shared, DCM_PlaneOrientationSequence, 0)->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  return ds;
}

// An Enhanced MR diffusion object: 3 axial slices x 2 volumes (b 0, then b 1000 along LPS (0,1,0)) of
// 2 x 2 pixels, 1 mm apart, frames stored volume 1 first and slices in reverse; pixel value
// 10 * volume + slice.
void WriteEnhancedDwi(const fs::path& path) {
  DcmFileFormat file;
  DcmDataset* ds = StartEnhancedMr(file, "1.2.826.0.1.3680043.10.1511.9.7", "6");
  ds->putAndInsertString(DCM_ImageType, "ORIGINAL\\PRIMARY\\DIFFUSION\\NONE");
  std::vector<Uint16> pixels;
  unsigned long frame = 0;
  for (int volume = 1; volume >= 0; --volume) {
    for (int slice = 2; slice >= 0; --slice, ++frame) {
      DcmItem* group = NewGroupItem(*ds, DCM_PerFrameFunctionalGroupsSequence, frame);
      const std::string position = "0\\0\\" + std::to_string(slice);
      NewGroupItem(*group, DCM_PlanePositionSequence, 0)->putAndInsertString(DCM_ImagePositionPatient, position.c_str());
      NewGroupItem(*group, DCM_FrameContentSequence, 0)->putAndInsertUint32(DCM_TemporalPositionIndex, volume + 1);
      DcmItem* diffusion = NewGroupItem(*group, DCM_MRDiffusionSequence, 0);
      diffusion->putAndInsertString(DCM_DiffusionBValue, volume ? "1000" : "0");
      if (volume) {
        NewGroupItem(*diffusion, DCM_DiffusionGradientDirectionSequence, 0)
            ->putAndInsertString(DCM_DiffusionGradientOrientation, "0\\1\\0");
      }
      for (int i = 0; i < 4; ++i) pixels.push_back(static_cast<Uint16>(10 * volume + slice));
    }
  }
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
}

TEST_F(Ingest, EnhancedDiffusionFramesBecomeOneFourDSeries) {
  WriteEnhancedDwi(dir_ / "dwi.dcm");
  const auto index = BuildIndex(ScanArchive(dir_));
  ASSERT_EQ(index.studies.size(), 1u);
  ASSERT_EQ(index.studies[0].series.size(), 1u);
  const Series& series = index.studies[0].series[0];
  ASSERT_FALSE(series.Refused()) << series.refusal;
  ASSERT_EQ(series.VolumeCount(), 2u);
  EXPECT_EQ(series.VolumeFrame(0).b_value, 0.0);
  EXPECT_EQ(series.VolumeFrame(1).b_value, 1000.0);
  const auto volumes = LoadSeriesVolumes(series);
  for (size_t v = 0; v < 2; ++v) {
    const Image3D& image = volumes[v].Grid();
    ASSERT_EQ(image.GetLargestPossibleRegion().GetSize()[2], 3u);
    EXPECT_NEAR(image.GetOrigin()[2], 0.0, 1e-9);
    for (long slice = 0; slice < 3; ++slice) EXPECT_EQ(image.GetPixel({{1, 1, slice}}), 10.0f * v + slice);
  }
  // LPS (0,1,0) along the column axis; the NIfTI affine diag(-1,-1,1) has a positive determinant, so x
  // is negated (here 0) and y stays.
  const auto table = DiffusionTable(series, volumes[0].Grid().GetDirection());
  ASSERT_TRUE(table);
  EXPECT_EQ(table->bval, "0 1000\n");
  EXPECT_EQ(table->bvec, "0 0\n0 1\n0 0\n");
}

// A field map as one Enhanced MR object: 2 axial slices at echo times 5 and 10 ms, each magnitude and
// phase (per-frame MREchoSequence and MRImageFrameTypeSequence); pixel value 100 * echo + 10 * phase + slice.
TEST_F(Ingest, EchoesAndComponentsOfOneFileSplitIntoOneVolumeEach) {
  DcmFileFormat file;
  DcmDataset* ds = StartEnhancedMr(file, "1.2.826.0.1.3680043.10.1511.9.8", "8");
  std::vector<Uint16> pixels;
  unsigned long frame = 0;
  for (int echo = 1; echo <= 2; ++echo) {
    for (int phase = 0; phase < 2; ++phase) {
      for (int slice = 0; slice < 2; ++slice, ++frame) {
        DcmItem* group = NewGroupItem(*ds, DCM_PerFrameFunctionalGroupsSequence, frame);
        NewGroupItem(*group, DCM_PlanePositionSequence, 0)
            ->putAndInsertString(DCM_ImagePositionPatient, ("0\\0\\" + std::to_string(slice)).c_str());
        NewGroupItem(*group, DCM_MREchoSequence, 0)->putAndInsertString(DCM_EffectiveEchoTime, echo == 1 ? "5" : "10");
        NewGroupItem(*group, DCM_MRImageFrameTypeSequence, 0)
            ->putAndInsertString(DCM_ComplexImageComponent, phase ? "PHASE" : "MAGNITUDE");
        for (int i = 0; i < 4; ++i) pixels.push_back(static_cast<Uint16>(100 * echo + 10 * phase + slice));
      }
    }
  }
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile((dir_ / "fieldmap.dcm").c_str(), EXS_LittleEndianExplicit).good());

  const auto index = BuildIndex(ScanArchive(dir_));
  ASSERT_EQ(index.studies.size(), 1u);
  const auto& parts = index.studies[0].series;
  ASSERT_EQ(parts.size(), 4u);
  std::set<std::string> ids, kinds;
  for (const Series& series : parts) {
    ASSERT_FALSE(series.Refused()) << series.refusal;
    ids.insert(series.id);
    ASSERT_EQ(series.VolumeCount(), 1u);
    const FrameInfo& first = series.VolumeFrame(0);
    kinds.insert(std::to_string(int(*first.echo_time)) + first.component);
    EXPECT_TRUE(std::any_of(series.problems.begin(), series.problems.end(), [](const std::string& p) {
      return p.rfind("echo_or_component_split: this part holds echo time", 0) == 0;
    }));
    const Volume volume = LoadSeries(series);
    const float base = 100.0f * (*first.echo_time == 5 ? 1 : 2) + (first.component == "PHASE" ? 10.0f : 0.0f);
    for (long slice = 0; slice < 2; ++slice) EXPECT_EQ(volume.Grid().GetPixel({{0, 1, slice}}), base + slice);
  }
  EXPECT_EQ(ids.size(), 4u);
  EXPECT_EQ(kinds, (std::set<std::string>{"5MAGNITUDE", "5PHASE", "10MAGNITUDE", "10PHASE"}));
}

// A Philips MR slice (stored 100, RescaleSlope 2, intercept 4, (2005,100E) ScaleSlope 0.25): display
// value 100 x 2 + 4 = 204; dcm2niix's float value 204 / (2 x 0.25) = 408.
TEST_F(Ingest, PhilipsScalingIsDisplayUnlessFloatIsAskedFor) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_MRImageStorage, "1.2.826.0.1.3680043.10.1511.9.9", "MR");
  testing::PutPixelModule(*ds, 2, 2, 1, 16, 12, "MONOCHROME2");
  ds->putAndInsertString(DCM_Manufacturer, "Philips Medical Systems");
  ds->putAndInsertString(DCM_ImagePositionPatient, "0\\0\\0");
  ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  ds->putAndInsertString(DCM_PixelSpacing, "1\\1");
  ds->putAndInsertString(DCM_RescaleSlope, "2");
  ds->putAndInsertString(DCM_RescaleIntercept, "4");
  ds->putAndInsertString(DcmTagKey(0x2005, 0x0010), "Philips MR Imaging DD 001");
  auto* scale = new DcmFloatingPointSingle(DcmTag(0x2005, 0x100E, EVR_FL));
  scale->putFloat32(0.25f);
  ds->insert(scale);
  const std::vector<Uint16> pixels(4, 100);
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile((dir_ / "philips.dcm").c_str(), EXS_LittleEndianExplicit).good());

  const auto display = BuildIndex(ScanArchive(dir_));
  const Series& series = display.studies.at(0).series.at(0);
  EXPECT_EQ(series.files[0].philips_scale_slope, 0.25);
  EXPECT_EQ(LoadSeries(series).Grid().GetPixel({{0, 0, 0}}), 204.0f);
  IndexOptions options;
  options.philips_float = true;
  const auto precise = BuildIndex(ScanArchive(dir_), options);
  const Series& as_float = precise.studies.at(0).series.at(0);
  EXPECT_EQ(LoadSeries(as_float).Grid().GetPixel({{0, 0, 0}}), 408.0f);
  EXPECT_TRUE(std::any_of(as_float.problems.begin(), as_float.problems.end(),
                          [](const std::string& p) { return p.rfind("philips_float_scaling:", 0) == 0; }));
}

TEST_F(Ingest, EnhancedMultiFrameUsesPerFrameGeometryAndRescale) {
  WriteEnhancedCt(dir_ / "enhanced.dcm");
  const auto index = BuildIndex(ScanArchive(dir_));
  ASSERT_TRUE(index.problems.empty()) << index.problems.front().reason;
  ASSERT_EQ(index.studies.size(), 1u);
  ASSERT_EQ(index.studies[0].series.size(), 1u);
  const Series& series = index.studies[0].series[0];
  EXPECT_TRUE(series.files[0].enhanced);
  EXPECT_EQ(series.slices.size(), 4u);
  EXPECT_NEAR(series.stack.spacing, 2.5, 1e-9);

  const Volume volume = LoadSeries(series);
  const Image3D& image = volume.Grid();
  const auto size = image.GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(size[0], 3u);
  EXPECT_EQ(size[1], 2u);
  EXPECT_EQ(size[2], 4u);
  EXPECT_DOUBLE_EQ(image.GetSpacing()[0], 0.5);
  EXPECT_DOUBLE_EQ(image.GetSpacing()[1], 0.8);
  EXPECT_NEAR(image.GetSpacing()[2], 2.5, 1e-9);
  EXPECT_NEAR(image.GetOrigin()[1], 20.0, 1e-9) << "the lowest slice first, whatever the stored order";
  EXPECT_NEAR(image.GetDirection()[1][2], 1.0, 1e-9);
  EXPECT_NEAR(image.GetDirection()[2][1], -1.0, 1e-9);
  for (long slice = 0; slice < 4; ++slice) {
    // stored 100*slice + i, times slope 2, plus this frame's intercept -1000 - slice
    EXPECT_FLOAT_EQ(image.GetPixel({{2, 1, slice}}), 2.0f * (100 * slice + 5) - 1000 - slice) << "slice " << slice;
  }
}

TEST_F(Ingest, DicomdirBringsItsFilesAndReportsMissingOnes) {
  if (!testing::WriteDicomdirMedium(dir_ / "media")) GTEST_SKIP() << "dcmmkdir unavailable";

  const auto through_dicomdir = BuildIndex(ScanArchive(dir_ / "media" / "DICOMDIR"));
  ASSERT_EQ(through_dicomdir.studies.size(), 1u);
  ASSERT_EQ(through_dicomdir.studies[0].series.size(), 1u);
  EXPECT_EQ(through_dicomdir.studies[0].series[0].slices.size(), 6u);
  EXPECT_TRUE(through_dicomdir.problems.empty());

  fs::remove(dir_ / "media" / "DATA" / "IM3");
  for (const fs::path& root : {dir_ / "media" / "DICOMDIR", dir_ / "media"}) {
    const auto index = BuildIndex(ScanArchive(root));
    ASSERT_EQ(index.problems.size(), 1u) << root;
    EXPECT_NE(index.problems[0].reason.find("referenced by DICOMDIR"), std::string::npos);
    EXPECT_NE(index.problems[0].path.find("IM3"), std::string::npos);
    EXPECT_EQ(index.studies.at(0).series.at(0).slices.size(), 5u) << "the other slices are still indexed";
  }

  // A record naming a file outside the medium's folder (a relative or an absolute path) refuses the DICOMDIR.
  fs::create_directories(dir_ / "hostile");
  for (const char* outside : {"..\\..\\SECRET", "/etc/passwd"}) {
    DcmFileFormat dicomdir;
    ASSERT_TRUE(dicomdir.loadFile((dir_ / "media" / "DICOMDIR").c_str()).good());
    DcmSequenceOfItems* records = nullptr;
    ASSERT_TRUE(dicomdir.getDataset()->findAndGetSequence(DCM_DirectoryRecordSequence, records).good());
    for (unsigned long i = 0; i < records->card(); ++i)
      if (records->getItem(i)->tagExists(DCM_ReferencedFileID)) records->getItem(i)->putAndInsertString(DCM_ReferencedFileID, outside);
    ASSERT_TRUE(dicomdir.saveFile((dir_ / "hostile" / "DICOMDIR").c_str()).good());
    const auto index = BuildIndex(ScanArchive(dir_ / "hostile" / "DICOMDIR"));
    EXPECT_TRUE(index.studies.empty()) << outside;
    ASSERT_EQ(index.problems.size(), 1u) << outside;
    EXPECT_NE(index.problems[0].reason.find("names a file outside the DICOMDIR's folder"), std::string::npos) << index.problems[0].reason;
  }
}

}  // namespace
}  // namespace medpipe::dicom
