#include "medpipe/synth/synthetic_study.h"

#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "medpipe/core/error.h"

namespace medpipe::synth {
namespace {

namespace fs = std::filesystem;

constexpr int kHuTolerance = 10;  // the CT noise amplitude

class SyntheticStudyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::temp_directory_path() / ("medpipe_synth_" + name + "_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

std::vector<fs::path> FilesIn(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

std::unique_ptr<DcmFileFormat> Load(const fs::path& path) {
  auto file = std::make_unique<DcmFileFormat>();
  const OFCondition status = file->loadFile(path.c_str());
  EXPECT_TRUE(status.good()) << path << ": " << status.text();
  return file;
}

std::string StringOf(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  item.findAndGetOFStringArray(tag, value);
  return value.c_str();
}

long IntOf(DcmItem& item, const DcmTagKey& tag) { return std::stol(StringOf(item, tag)); }

std::vector<uint8_t> BytesOf(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Stored value as the signed 16-bit number it encodes, times slope 1, plus the intercept.
int HuAt(DcmDataset& dataset, int column, int row) {
  const Uint16* pixels = nullptr;
  EXPECT_TRUE(dataset.findAndGetUint16Array(DCM_PixelData, pixels).good());
  Float64 intercept = 0;
  EXPECT_TRUE(dataset.findAndGetFloat64(DCM_RescaleIntercept, intercept).good());
  const long columns = IntOf(dataset, DCM_Columns);
  return static_cast<int16_t>(pixels[row * columns + column]) + static_cast<int>(intercept);
}

int PixelAt(DcmDataset& dataset, int column, int row) {
  const Uint16* pixels = nullptr;
  EXPECT_TRUE(dataset.findAndGetUint16Array(DCM_PixelData, pixels).good());
  return pixels[row * IntOf(dataset, DCM_Columns) + column];
}

// First fragment after the basic offset table of an encapsulated single-frame file.
std::vector<uint8_t> FirstFragment(DcmDataset& dataset, E_TransferSyntax transfer_syntax) {
  DcmElement* element = nullptr;
  EXPECT_TRUE(dataset.findAndGetElement(DCM_PixelData, element).good());
  DcmPixelSequence* sequence = nullptr;
  EXPECT_TRUE(
      static_cast<DcmPixelData*>(element)->getEncapsulatedRepresentation(transfer_syntax, nullptr, sequence).good());
  EXPECT_EQ(sequence->card(), 2u);
  DcmPixelItem* item = nullptr;
  EXPECT_TRUE(sequence->getItem(item, 1).good());
  Uint8* data = nullptr;
  EXPECT_TRUE(item->getUint8Array(data).good());
  return {data, data + item->getLength()};
}

TEST_F(SyntheticStudyTest, CtWritesOneAxialSlicePerFileInPositionOrder) {
  const VolumeSpec spec;
  const fs::path folder = WriteSyntheticCt(dir_, spec, 7);
  EXPECT_EQ(folder, dir_ / "ct");
  const std::vector<fs::path> files = FilesIn(folder);
  ASSERT_EQ(files.size(), 40u);
  EXPECT_EQ(files.front().filename(), "slice_0001.dcm");

  const std::vector<uint8_t> bytes = BytesOf(files.front());
  ASSERT_GT(bytes.size(), 132u);
  EXPECT_EQ(std::string(bytes.begin() + 128, bytes.begin() + 132), "DICM");

  std::string study_uid;
  for (size_t i = 0; i < files.size(); ++i) {
    auto file = Load(files[i]);
    DcmDataset& dataset = *file->getDataset();
    EXPECT_EQ(StringOf(*file->getMetaInfo(), DCM_TransferSyntaxUID), UID_LittleEndianExplicitTransferSyntax);
    EXPECT_EQ(StringOf(dataset, DCM_SOPClassUID), UID_CTImageStorage);
    EXPECT_EQ(StringOf(dataset, DCM_Modality), "CT");
    EXPECT_EQ(IntOf(dataset, DCM_Rows), 64);
    EXPECT_EQ(IntOf(dataset, DCM_Columns), 64);
    EXPECT_EQ(IntOf(dataset, DCM_PixelRepresentation), 1);
    EXPECT_EQ(IntOf(dataset, DCM_InstanceNumber), static_cast<long>(i + 1));
    EXPECT_EQ(StringOf(dataset, DCM_ImageOrientationPatient), "1\\0\\0\\0\\1\\0");
    Float64 z = 0;
    EXPECT_TRUE(dataset.findAndGetFloat64(DCM_ImagePositionPatient, z, 2).good());
    // 40 slices 2 mm apart, centred on z = 0: -39, -37, ..., 39.
    EXPECT_DOUBLE_EQ(z, -39.0 + 2.0 * static_cast<double>(i));
    if (i == 0) study_uid = StringOf(dataset, DCM_StudyInstanceUID);
    EXPECT_EQ(StringOf(dataset, DCM_StudyInstanceUID), study_uid);
  }
}

TEST_F(SyntheticStudyTest, CtDecodesToHounsfieldUnits) {
  const VolumeSpec spec;
  const Sphere lesion = SyntheticCtLesion(spec);
  EXPECT_DOUBLE_EQ(lesion.radius_mm, 8.0);
  const fs::path folder = WriteSyntheticCt(dir_, spec, 7);

  char name[32];
  std::snprintf(name, sizeof(name), "slice_%04d.dcm", lesion.centre_voxel[2] + 1);
  auto file = Load(folder / name);
  DcmDataset& dataset = *file->getDataset();
  const int column = lesion.centre_voxel[0], row = lesion.centre_voxel[1];
  EXPECT_NEAR(HuAt(dataset, column, row), 100, kHuTolerance);
  EXPECT_NEAR(HuAt(dataset, column + 5, row), 100, kHuTolerance);  // 5 mm from the centre
  EXPECT_EQ(HuAt(dataset, 0, 0), -1000);  // air carries no noise
  EXPECT_NEAR(HuAt(dataset, spec.columns - 1 - column, row), 40, kHuTolerance);  // mirrored: soft tissue
}

TEST_F(SyntheticStudyTest, SameSeedGivesIdenticalFiles) {
  const VolumeSpec spec{16, 16, 3};
  const fs::path first = WriteSyntheticCt(dir_ / "a", spec, 3);
  const fs::path second = WriteSyntheticCt(dir_ / "b", spec, 3);
  const fs::path other_seed = WriteSyntheticCt(dir_ / "c", spec, 4);
  EXPECT_EQ(BytesOf(first / "slice_0002.dcm"), BytesOf(second / "slice_0002.dcm"));
  EXPECT_NE(BytesOf(first / "slice_0002.dcm"), BytesOf(other_seed / "slice_0002.dcm"));
}

TEST_F(SyntheticStudyTest, MrIsAHeadWithSymmetricHippocampi) {
  VolumeSpec spec;
  spec.slices = 20;
  spec.spacing_mm[2] = 4.0;
  const std::vector<fs::path> files = FilesIn(WriteSyntheticMr(dir_, spec, 5));
  ASSERT_EQ(files.size(), 20u);

  int hippocampus_left = 0, hippocampus_right = 0;
  for (const fs::path& path : files) {
    auto file = Load(path);
    DcmDataset& dataset = *file->getDataset();
    EXPECT_EQ(StringOf(dataset, DCM_SOPClassUID), UID_MRImageStorage);
    EXPECT_EQ(StringOf(dataset, DCM_Modality), "MR");
    EXPECT_EQ(IntOf(dataset, DCM_Rows), 64);
    EXPECT_EQ(IntOf(dataset, DCM_BitsStored), 12);
    EXPECT_FALSE(StringOf(dataset, DCM_EchoTime).empty());
    EXPECT_FALSE(StringOf(dataset, DCM_RepetitionTime).empty());
    EXPECT_EQ(StringOf(dataset, DCM_MagneticFieldStrength), "3");
    for (int row = 0; row < spec.rows; ++row) {
      for (int column = 0; column < spec.columns; ++column) {
        // 450 +- 20 occurs only in the hippocampi; the other tissue levels are further apart.
        if (std::abs(PixelAt(dataset, column, row) - 450) > 20) continue;
        (column < spec.columns / 2 ? hippocampus_right : hippocampus_left)++;
      }
    }
  }
  EXPECT_GT(hippocampus_left, 20);
  EXPECT_EQ(hippocampus_left, hippocampus_right);
}

TEST_F(SyntheticStudyTest, DxIsAChestRadiographForPresentation) {
  const fs::path folder = WriteSyntheticDx(dir_, 256, 200, 9);
  ASSERT_EQ(FilesIn(folder), std::vector<fs::path>{folder / "image.dcm"});
  auto file = Load(folder / "image.dcm");
  DcmDataset& dataset = *file->getDataset();
  EXPECT_EQ(StringOf(dataset, DCM_SOPClassUID), UID_DigitalXRayImageStorageForPresentation);
  EXPECT_EQ(StringOf(dataset, DCM_Modality), "DX");
  EXPECT_EQ(StringOf(dataset, DCM_PresentationIntentType), "FOR PRESENTATION");
  EXPECT_EQ(StringOf(dataset, DCM_ViewPosition), "PA");
  EXPECT_EQ(StringOf(dataset, DCM_ImagerPixelSpacing), "0.5\\0.5");
  EXPECT_EQ(IntOf(dataset, DCM_Columns), 256);
  EXPECT_EQ(IntOf(dataset, DCM_Rows), 200);

  const auto at = [&](double u, double v) {
    return PixelAt(dataset, static_cast<int>(u * 256), static_cast<int>(v * 200));
  };
  const int outside = at(0.0, 0.0), lung = at(0.30, 0.48), tissue = at(0.30, 0.85), spine = at(0.5, 0.48);
  EXPECT_LT(outside, lung);
  EXPECT_LT(lung, tissue);
  EXPECT_LT(tissue, spine);
}

TEST_F(SyntheticStudyTest, JpegLsFilesCarryTheirTransferSyntax) {
  VolumeSpec spec{32, 24, 3};
  spec.encoding = Encoding::JpegLsLossless;
  for (const fs::path& folder : {WriteSyntheticCt(dir_, spec, 1), WriteSyntheticMr(dir_, spec, 1)}) {
    const std::vector<fs::path> files = FilesIn(folder);
    ASSERT_EQ(files.size(), 3u);
    auto file = Load(files.front());
    EXPECT_EQ(StringOf(*file->getMetaInfo(), DCM_TransferSyntaxUID), UID_JPEGLSLosslessTransferSyntax);
    const std::vector<uint8_t> codestream = FirstFragment(*file->getDataset(), EXS_JPEGLSLossless);
    ASSERT_GE(codestream.size(), 4u);
    EXPECT_EQ(codestream[0], 0xFF);  // SOI, then SOF55 (JPEG-LS)
    EXPECT_EQ(codestream[1], 0xD8);
    EXPECT_EQ(codestream[2], 0xFF);
    EXPECT_EQ(codestream[3], 0xF7);
  }
}

TEST_F(SyntheticStudyTest, Jpeg2000FilesCarryTheirTransferSyntax) {
  VolumeSpec spec{32, 24, 3};
  spec.encoding = Encoding::Jpeg2000Lossless;
  for (const fs::path& folder : {WriteSyntheticCt(dir_, spec, 1), WriteSyntheticMr(dir_, spec, 1)}) {
    const std::vector<fs::path> files = FilesIn(folder);
    ASSERT_EQ(files.size(), 3u);
    auto file = Load(files.front());
    EXPECT_EQ(StringOf(*file->getMetaInfo(), DCM_TransferSyntaxUID), UID_JPEG2000LosslessOnlyTransferSyntax);
    const std::vector<uint8_t> codestream = FirstFragment(*file->getDataset(), EXS_JPEG2000LosslessOnly);
    ASSERT_GE(codestream.size(), 4u);
    EXPECT_EQ(codestream.size() % 2, 0u);
    EXPECT_EQ(codestream[0], 0xFF);  // SOC, then SIZ: a raw J2K codestream, not a JP2 box
    EXPECT_EQ(codestream[1], 0x4F);
    EXPECT_EQ(codestream[2], 0xFF);
    EXPECT_EQ(codestream[3], 0x51);
  }
}

TEST_F(SyntheticStudyTest, DemoStudiesAreSmallEnoughToCommit) {
  WriteDemoStudies(dir_);
  EXPECT_EQ(FilesIn(dir_ / "ct").size(), 40u);
  EXPECT_EQ(FilesIn(dir_ / "mr").size(), 32u);
  EXPECT_EQ(FilesIn(dir_ / "dx").size(), 1u);
  uintmax_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir_)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  EXPECT_LT(total, 1024u * 1024u);
}

TEST_F(SyntheticStudyTest, RefusesBadInput) {
  WriteSyntheticDx(dir_, 8, 8, 1);
  EXPECT_THROW(WriteSyntheticDx(dir_, 8, 8, 1), IoError);  // folder already holds image.dcm
  VolumeSpec empty;
  empty.slices = 0;
  EXPECT_THROW(WriteSyntheticCt(dir_, empty, 1), ConfigError);
  EXPECT_FALSE(fs::exists(dir_ / "ct"));
}

}  // namespace
}  // namespace medpipe::synth
