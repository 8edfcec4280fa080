// An error in a disposable decoding child reaches the caller as the class it had there (README:
// Isolation): a file gone since the index is an IoError, a file that cannot be parsed a DicomError.
#include <gtest/gtest.h>

#include <fstream>

#include "isolation/series_decoder.h"
#include "medpipe/core/error.h"
#include "medpipe/dicom/archive_scanner.h"
#include "medpipe/dicom/series_index.h"
#include "medpipe/synth/synthetic_study.h"
#include "test_support.h"

namespace medpipe::cli {
namespace {

namespace fs = std::filesystem;

class DecodeIsolationErrorKinds : public testing::TempDirTest {
 protected:
  void SetUp() override {
    TempDirTest::SetUp();
    synth::VolumeSpec small;
    small.columns = small.rows = 8;
    small.slices = 4;
    synth::WriteSyntheticCt(dir_ / "archive", small, 5);
    dicom::ScanOptions scan;
    scan.threads = 1;
    index_ = dicom::BuildIndex(dicom::ScanArchive(dir_ / "archive", scan));
    ASSERT_EQ(index_.studies.size(), 1u);
    ASSERT_EQ(index_.studies[0].series.size(), 1u);
  }
  const dicom::Series& Series() const { return index_.studies[0].series[0]; }

  // "kind: what()" of decoding the series, or "decoded".
  std::string DecodeOutcome(SeriesDecoder& decoder) const {
    try {
      decoder.Decode(Series());
    } catch (const Error& error) {
      return std::string(ErrorKindName(error.Kind())) + ": " + error.what();
    }
    return "decoded";
  }

  dicom::ArchiveIndex index_;
};

TEST_F(DecodeIsolationErrorKinds, AFileGoneSinceTheIndexIsAnIoErrorAndAnUnparsableOneADicomError) {
  SeriesDecoder decoder(1, {60, 0});  // forked now, before the files change, as a worker's are
  EXPECT_EQ(DecodeOutcome(decoder), "decoded");
  const std::string file = Series().files.at(1).path;

  fs::remove(file);
  const std::string gone = DecodeOutcome(decoder);
  EXPECT_EQ(gone.rfind("io: " + file + ": cannot be opened to read its pixel data (No such file or directory)", 0), 0u)
      << gone;
  EXPECT_NE(gone.find("keep the archive unchanged while medpipe runs"), std::string::npos) << gone;

  fs::create_directory(file);  // a folder where the file was
  const std::string folder = DecodeOutcome(decoder);
  EXPECT_EQ(folder.rfind("io: " + file + ": cannot be opened to read its pixel data (it is a folder now)", 0), 0u)
      << folder;

  fs::remove(file);
  std::ofstream(file, std::ios::binary) << "DICM but nothing a parser can read";
  const std::string garbage = DecodeOutcome(decoder);
  EXPECT_EQ(garbage.rfind("dicom: " + file + ": ", 0), 0u) << garbage;
}

TEST(DecodeIsolationThrowError, ThrowsTheClassOfEachKind) {
  for (const ErrorKind kind : {ErrorKind::Dicom, ErrorKind::Io, ErrorKind::Config, ErrorKind::Model,
                               ErrorKind::Network, ErrorKind::Internal}) {
    ASSERT_EQ(ErrorKindNamed(ErrorKindName(kind)), kind);
    try {
      ThrowError(kind, "where", "reason");
    } catch (const Error& error) {
      EXPECT_EQ(error.Kind(), kind);
      EXPECT_EQ(error.Where(), "where");
      EXPECT_EQ(error.Reason(), "reason");
      const bool right_class = (kind == ErrorKind::Dicom && dynamic_cast<const DicomError*>(&error)) ||
                               (kind == ErrorKind::Io && dynamic_cast<const IoError*>(&error)) ||
                               (kind == ErrorKind::Config && dynamic_cast<const ConfigError*>(&error)) ||
                               (kind == ErrorKind::Model && dynamic_cast<const ModelError*>(&error)) ||
                               (kind == ErrorKind::Network && dynamic_cast<const NetworkError*>(&error)) ||
                               (kind == ErrorKind::Internal && dynamic_cast<const InternalError*>(&error));
      EXPECT_TRUE(right_class) << ErrorKindName(kind) << ": " << error.what();
    }
  }
  EXPECT_FALSE(ErrorKindNamed("disk").has_value());
}

}  // namespace
}  // namespace medpipe::cli
