// Encodings absent from the shared data (deflate, JPEG baseline grey and colour, MONOCHROME1) and
// the series kinds ingest keeps out of volumes, made from synthetic studies with DCMTK's tools.
#include <gtest/gtest.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cmath>
#include <cstdlib>
#include <map>

#include "medpipe/dicom/pixel_decoder.h"
#include "medpipe/dicom/series_loader.h"
#include "medpipe/synth/synthetic_study.h"
#include "test_support.h"

namespace medpipe::dicom {
namespace {

namespace fs = std::filesystem;

bool Shell(const std::string& command) { return std::system((command + " > /dev/null 2>&1").c_str()) == 0; }

class Encodings : public testing::TempDirTest {
 protected:
  void SetUp() override {
    if (!Shell("command -v dcmconv && command -v dcmodify && command -v dcmcjpeg && command -v dcmdjpeg && command -v dcmcjpls"))
      GTEST_SKIP() << "DCMTK tools missing";
    TempDirTest::SetUp();
  }

  // The only series of FOLDER, loaded.
  static Volume LoadOnly(const fs::path& folder) {
    const auto index = BuildIndex(ScanArchive(folder));
    EXPECT_TRUE(index.problems.empty()) << (index.problems.empty() ? "" : index.problems[0].reason);
    EXPECT_EQ(index.studies.size(), 1u);
    EXPECT_EQ(index.studies.at(0).series.size(), 1u);
    return LoadSeries(index.studies.at(0).series.at(0));
  }
};

double MaxAbsDiff(const Image3D& a, const Image3D& b) {
  double worst = 0;
  for (size_t i = 0; i < a.GetPixelContainer()->Size(); ++i) {
    worst = std::max(worst, std::abs(double(a.GetBufferPointer()[i]) - b.GetBufferPointer()[i]));
  }
  return worst;
}

double MeanAbsDiff(const Image3D& a, const Image3D& b) {
  double sum = 0;
  for (size_t i = 0; i < a.GetPixelContainer()->Size(); ++i) sum += std::abs(double(a.GetBufferPointer()[i]) - b.GetBufferPointer()[i]);
  return sum / a.GetPixelContainer()->Size();
}

// An 8-bit image with smooth content, grey (1 sample) or colour (3 samples, RGB).
void WriteEightBit(const fs::path& path, int samples) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_SecondaryCaptureImageStorage, "1.2.826.0.1.3680043.10.1511.8.1", "OT");
  ds->putAndInsertString(DCM_ImagePositionPatient, "0\\0\\0");
  ds->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  testing::PutPixelModule(*ds, 64, 64, samples, 8, 8, samples == 3 ? "RGB" : "MONOCHROME2");
  if (samples == 3) ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
  std::vector<Uint8> pixels;
  for (int y = 0; y < 64; ++y)
    for (int x = 0; x < 64; ++x)
      for (int c = 0; c < samples; ++c) pixels.push_back(static_cast<Uint8>(20 + x + y + 30 * c));  // <= 206
  ds->putAndInsertUint8Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
}

TEST_F(Encodings, DeflatedFilesDecodeToTheSameVoxels) {
  const fs::path plain = synth::WriteSyntheticCt(dir_ / "plain", synth::VolumeSpec{32, 32, 5}, 3);
  fs::create_directories(dir_ / "deflated");
  for (const auto& entry : fs::directory_iterator(plain)) {
    ASSERT_TRUE(Shell("dcmconv +td '" + entry.path().string() + "' '" +
                    (dir_ / "deflated" / entry.path().filename()).string() + "'"));
  }
  const auto header = ReadFileHeader((dir_ / "deflated" / "slice_0001.dcm").string());
  EXPECT_EQ(header.transfer_syntax_uid, UID_DeflatedExplicitVRLittleEndianTransferSyntax);
  EXPECT_EQ(MaxAbsDiff(LoadOnly(plain).Grid(), LoadOnly(dir_ / "deflated").Grid()), 0.0);
}

// JPEG-LS is decoded by CharLS, JPEG 2000 by OpenJPEG: signed CT and unsigned 12-bit MR alike.
TEST_F(Encodings, LosslessJpegLsAndJpeg2000DecodeToTheSameVoxels) {
  using synth::Encoding;
  for (const auto& write : {synth::WriteSyntheticCt, synth::WriteSyntheticMr}) {
    synth::VolumeSpec spec{48, 40, 6};
    const Volume plain = LoadOnly(write(dir_ / "explicit", spec, 5));
    for (const Encoding encoding : {Encoding::JpegLsLossless, Encoding::Jpeg2000Lossless}) {
      spec.encoding = encoding;
      const fs::path folder = dir_ / std::to_string(int(encoding));
      EXPECT_EQ(MaxAbsDiff(plain.Grid(), LoadOnly(write(folder, spec, 5)).Grid()), 0.0) << int(encoding);
    }
    fs::remove_all(dir_);
  }
}

// Colour JPEG-LS comes interleaved by line or by sample, or as one plane per colour.
TEST_F(Encodings, ColourJpegLsInEveryInterleaveDecodesToTheSameRgb) {
  fs::create_directories(dir_ / "plain");
  WriteEightBit(dir_ / "plain" / "rgb.dcm", 3);
  const Volume plain = LoadOnly(dir_ / "plain");
  for (const std::string mode : {"+il", "+is", "+in"}) {
    const fs::path folder = dir_ / ("jls" + mode);
    fs::create_directories(folder);
    ASSERT_TRUE(Shell("dcmcjpls " + mode + " '" + (dir_ / "plain" / "rgb.dcm").string() + "' '" +
                      (folder / "rgb.dcm").string() + "'"));
    EXPECT_EQ(ReadFileHeader((folder / "rgb.dcm").string()).transfer_syntax_uid, UID_JPEGLSLosslessTransferSyntax);
    const Volume decoded = LoadOnly(folder);
    ASSERT_EQ(decoded.channels.size(), 3u);
    for (int c = 0; c < 3; ++c) EXPECT_EQ(MaxAbsDiff(*plain.channels[c], *decoded.channels[c]), 0.0) << mode << c;
  }
}

// Lossy, so the reference is DCMTK's own dcmdjpeg output; the source bounds the loss, which a
// missed YBR-to-RGB conversion would blow far past. +sr keeps grey values unscaled by the encoder.
TEST_F(Encodings, JpegBaselineGreyAndColourDecodeAsDcmdjpegDoes) {
  for (int samples : {1, 3}) {
    SCOPED_TRACE(samples);
    const fs::path plain = dir_ / ("plain" + std::to_string(samples));
    const fs::path lossy = dir_ / ("jpeg" + std::to_string(samples));
    const fs::path reference = dir_ / ("dcmdjpeg" + std::to_string(samples));
    for (const auto& folder : {plain, lossy, reference}) fs::create_directories(folder);
    WriteEightBit(plain / "image.dcm", samples);
    ASSERT_TRUE(Shell("dcmcjpeg +eb +sr +q 95 '" + (plain / "image.dcm").string() + "' '" + (lossy / "image.dcm").string() + "'"));
    ASSERT_TRUE(Shell("dcmdjpeg '" + (lossy / "image.dcm").string() + "' '" + (reference / "image.dcm").string() + "'"));
    EXPECT_EQ(ReadFileHeader((lossy / "image.dcm").string()).transfer_syntax_uid, UID_JPEGProcess1TransferSyntax);
    const Volume source = LoadOnly(plain), decoded = LoadOnly(lossy), expected = LoadOnly(reference);
    ASSERT_EQ(decoded.channels.size(), size_t(samples)) << "colour JPEG comes back as RGB";
    for (int c = 0; c < samples; ++c) {
      EXPECT_EQ(MaxAbsDiff(*decoded.channels[c], *expected.channels[c]), 0.0) << "channel " << c;
      EXPECT_LT(MeanAbsDiff(*source.channels[c], *decoded.channels[c]), 3.0) << "channel " << c;
    }
  }
}

TEST_F(Encodings, Monochrome1IsInvertedAndXraySpacingKept) {
  const fs::path dx = synth::WriteSyntheticDx(dir_ / "mono2", 64, 48, 5);
  fs::create_directories(dir_ / "mono1");
  const fs::path inverted = dir_ / "mono1" / "image.dcm";
  fs::copy_file(fs::directory_iterator(dx)->path(), inverted);
  ASSERT_TRUE(Shell("dcmodify -nb -m '(0028,0004)=MONOCHROME1' '" + inverted.string() + "'"));
  const auto header = ReadFileHeader(inverted.string());
  const double full_scale = (1 << header.pixels.bits_stored) - 1;

  const auto index = BuildIndex(ScanArchive(dx));
  const Series& series = index.studies.at(0).series.at(0);
  EXPECT_EQ(series.kind, SeriesKind::Projection);
  ASSERT_EQ(series.problems.size(), 1u) << "placed nowhere in the patient, and it says so";
  EXPECT_EQ(series.problems[0].rfind("assumed_geometry: origin 0, as (0020,0032) ImagePositionPatient is missing; "
                                     "identity orientation", 0), 0u) << series.problems[0];
  EXPECT_FALSE(series.Refused());
  const Volume mono2 = LoadSeries(series);
  const Volume mono1 = LoadOnly(dir_ / "mono1");
  EXPECT_DOUBLE_EQ(mono2.Grid().GetSpacing()[0], 0.5);
  EXPECT_DOUBLE_EQ(mono2.Grid().GetSpacing()[1], 0.5);
  for (size_t i = 0; i < mono2.Grid().GetPixelContainer()->Size(); i += 97) {
    ASSERT_EQ(mono1.Grid().GetBufferPointer()[i], full_scale - mono2.Grid().GetBufferPointer()[i]) << "pixel " << i;
  }
}

// A 2-frame image of 3 x 3 one-bit samples (a DICOM SEG's encoding): 18 bits packed least significant
// bit first into 3 bytes, the second frame starting inside the second byte.
TEST_F(Encodings, OneBitFramesUnpackAcrossByteBoundaries) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_SegmentationStorage, "1.2.826.0.1.3680043.10.1511.8.2", "SEG");
  testing::PutPixelModule(*ds, 3, 3, 1, 1, 1, "MONOCHROME2");
  ds->putAndInsertString(DCM_NumberOfFrames, "2");
  const std::vector<float> expected = {1, 0, 1, 1, 0, 0, 0, 1, 1,  /* frame 2: */ 0, 1, 1, 1, 1, 0, 1, 0, 1};
  Uint8 packed[3] = {};
  for (size_t i = 0; i < expected.size(); ++i) packed[i / 8] |= Uint8(expected[i] > 0) << (i % 8);
  ds->putAndInsertUint8Array(DCM_PixelData, packed, sizeof packed);
  const fs::path path = dir_ / "seg.dcm";
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
  const FileHeader header = ReadFileHeader(path.string());
  ASSERT_EQ(DecodedSamples(header), expected.size());
  std::vector<float> decoded(expected.size());
  DecodePixels(header, decoded.data());
  EXPECT_EQ(decoded, expected);
}

// Parametric maps keep IEEE samples in FloatPixelData (32 bits) or DoubleFloatPixelData (64), in
// either byte order (DCMTK's dcmconv +tb writes big endian).
TEST_F(Encodings, FloatAndDoubleFloatPixelsKeepTheirValues) {
  const std::vector<double> values = {-1.5, 0.25, 300000.0, 7.0};
  for (const Uint16 bits : {32, 64}) {
    DcmFileFormat file;
    DcmDataset* ds = file.getDataset();
    testing::PutIdentity(*ds, UID_ParametricMapStorage, "1.2.826.0.1.3680043.10.1511.8.3", "MR");
    testing::PutPixelModule(*ds, 2, 2, 1, bits, bits, "MONOCHROME2");
    ds->findAndDeleteElement(DCM_BitsStored);
    ds->findAndDeleteElement(DCM_HighBit);
    ds->findAndDeleteElement(DCM_PixelRepresentation);
    if (bits == 32) {
      const std::vector<Float32> samples(values.begin(), values.end());
      ds->putAndInsertFloat32Array(DCM_FloatPixelData, samples.data(), samples.size());
    } else {
      ds->putAndInsertFloat64Array(DCM_DoubleFloatPixelData, values.data(), values.size());
    }
    const fs::path little = dir_ / ("float" + std::to_string(bits) + ".dcm"), big = dir_ / ("big" + std::to_string(bits) + ".dcm");
    ASSERT_TRUE(file.saveFile(little.c_str(), EXS_LittleEndianExplicit).good());
    ASSERT_TRUE(Shell("dcmconv +tb '" + little.string() + "' '" + big.string() + "'"));
    for (const fs::path& path : {little, big}) {
      const FileHeader header = ReadFileHeader(path.string());
      EXPECT_TRUE(header.pixels.floating);
      std::vector<float> decoded(4);
      DecodePixels(header, decoded.data());
      EXPECT_EQ(decoded, std::vector<float>(values.begin(), values.end())) << path;
    }
  }
}

TEST_F(Encodings, DuplicatesLocalizersAndScreenshotsStayOutOfVolumes) {
  const fs::path ct = synth::WriteSyntheticCt(dir_ / "archive", synth::VolumeSpec{16, 16, 4}, 9);
  fs::copy_file(ct / "slice_0002.dcm", ct / "copy_of_slice_0002.dcm");
  const auto derived = [&](const std::string& name, const std::string& modifications) {
    fs::copy_file(ct / "slice_0001.dcm", ct / name);
    char series_uid[100], instance_uid[100];
    ASSERT_TRUE(Shell("dcmodify -nb -m '(0020,000E)=" + std::string(dcmGenerateUniqueIdentifier(series_uid)) +
                    "' -m '(0008,0018)=" + dcmGenerateUniqueIdentifier(instance_uid) + "' " + modifications + " '" +
                    (ct / name).string() + "'"));
  };
  derived("scout.dcm", "-m '(0008,0008)=ORIGINAL\\PRIMARY\\LOCALIZER'");
  derived("screenshot.dcm", "-m '(0008,0016)=1.2.840.10008.5.1.4.1.1.7' -e '(0020,0032)' -e '(0020,0037)'");

  const auto index = BuildIndex(ScanArchive(dir_ / "archive"));
  EXPECT_EQ(index.duplicate_files, 1u);
  ASSERT_EQ(index.problems.size(), 1u);
  EXPECT_EQ(index.problems[0].reason.rfind("duplicate_instance", 0), 0u);
  std::map<SeriesKind, const Series*> by_kind;
  for (const auto& series : index.studies.at(0).series) by_kind[series.kind] = &series;
  ASSERT_EQ(by_kind.size(), 3u);
  EXPECT_EQ(by_kind[SeriesKind::Volume]->slices.size(), 4u);
  EXPECT_TRUE(by_kind[SeriesKind::Localizer]->Refused());
  EXPECT_TRUE(by_kind[SeriesKind::SecondaryCapture]->Refused());
  EXPECT_NO_THROW(LoadSeries(*by_kind[SeriesKind::Volume]));
}

}  // namespace
}  // namespace medpipe::dicom
