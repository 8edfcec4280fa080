// Hostile and broken files: each gets a per-file reason, nothing crashes, memory stays bounded.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <fstream>
#include <map>
#include <random>

#include "medpipe/dicom/series_index.h"
#include "medpipe/dicom/series_loader.h"
#include "reference_compare.h"
#include "test_support.h"

namespace medpipe::dicom {
namespace {

namespace fs = std::filesystem;

// A minimal CT slice header with the given matrix and PixelData bytes.
void WriteDicom(const fs::path& path, Uint16 rows, Uint16 columns, const std::string& frames, size_t pixel_bytes) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_CTImageStorage, "1.2.3.4", "CT");
  testing::PutPixelModule(*ds, rows, columns, 1, 16, 16, "MONOCHROME2");
  if (!frames.empty()) ds->putAndInsertString(DCM_NumberOfFrames, frames.c_str());
  std::vector<Uint16> pixels(pixel_bytes / 2, 7);
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile(path.c_str(), EXS_LittleEndianExplicit).good());
}

class BadInput : public testing::TempDirTest {
 protected:
  // Scan DIR_ and return reason by file name.
  std::map<std::string, std::string> Reasons(const ArchiveIndex& index) {
    std::map<std::string, std::string> reasons;
    for (const auto& problem : index.problems) reasons[fs::path(problem.path).filename().string()] = problem.reason;
    return reasons;
  }
};

TEST_F(BadInput, EveryBrokenFileGetsItsOwnReasonAndGoodFilesStillLoad) {
  WriteDicom(dir_ / "good.dcm", 16, 16, "", 16 * 16 * 2);
  WriteDicom(dir_ / "whole.dcm", 64, 64, "", 64 * 64 * 2);
  {
    // Truncated: the first half of a valid file.
    std::ifstream in(dir_ / "whole.dcm", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream(dir_ / "truncated.dcm", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    fs::remove(dir_ / "whole.dcm");
  }
  std::ofstream(dir_ / "empty.dcm").close();
  {
    std::mt19937 random(42);
    std::ofstream out(dir_ / "random.dcm", std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(random()));
  }
  WriteDicom(dir_ / "short_pixels.dcm", 64, 64, "", 100);
  WriteDicom(dir_ / "absurd.dcm", 65535, 65535, "10000", 64);
  std::ofstream(dir_ / "notes.txt") << "not an image";

  const auto index = BuildIndex(ScanArchive(dir_));
  const auto reasons = Reasons(index);
  EXPECT_NE(reasons.at("truncated.dcm").find("truncated"), std::string::npos) << reasons.at("truncated.dcm");
  EXPECT_NE(reasons.at("empty.dcm").find("empty file"), std::string::npos);
  EXPECT_NE(reasons.at("random.dcm").find("not a DICOM file"), std::string::npos);
  EXPECT_NE(reasons.at("short_pixels.dcm").find("PixelData has 100 bytes"), std::string::npos)
      << reasons.at("short_pixels.dcm");
  EXPECT_NE(reasons.at("absurd.dcm").find("over the limit"), std::string::npos) << reasons.at("absurd.dcm");
  EXPECT_EQ(reasons.count("notes.txt"), 0u) << "ordinary non-DICOM files are counted, not reported";
  EXPECT_EQ(index.non_dicom_files, 1u);

  ASSERT_EQ(index.studies.size(), 1u);
  ASSERT_EQ(index.studies[0].series.size(), 1u);
  const Volume volume = LoadSeries(index.studies[0].series[0]);
  EXPECT_EQ(volume.Grid().GetPixel({{3, 4, 0}}), 7.0f);

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  EXPECT_LT(usage.ru_maxrss, 1024L * 1024L) << "peak resident set (KiB) stays under 1 GiB";
}

TEST_F(BadInput, FrameCountAndSizesAreCheckedIn64Bits) {
  // 4096 x 4096 x 2 bytes x 65536 frames = 2^41 bytes: wraps to 0 in 32 bits.
  WriteDicom(dir_ / "wraps.dcm", 4096, 4096, "65536", 64);
  WriteDicom(dir_ / "zero_frames.dcm", 16, 16, "0", 512);
  const auto reasons = Reasons(BuildIndex(ScanArchive(dir_)));
  EXPECT_NE(reasons.at("wraps.dcm").find("limit"), std::string::npos) << reasons.at("wraps.dcm");
  EXPECT_NE(reasons.at("zero_frames.dcm").find("NumberOfFrames"), std::string::npos);
}

TEST_F(BadInput, UnreadableFoldersAndSymlinkLoopsAreReportedNotFatal) {
  WriteDicom(dir_ / "good.dcm", 16, 16, "", 16 * 16 * 2);
  fs::create_directories(dir_ / "loop");
  fs::create_directory_symlink(dir_, dir_ / "loop" / "back");
  fs::create_directories(dir_ / "locked");
  fs::permissions(dir_ / "locked", fs::perms::none);
  const auto index = BuildIndex(ScanArchive(dir_));
  fs::permissions(dir_ / "locked", fs::perms::owner_all);
  const auto reasons = Reasons(index);
  EXPECT_NE(reasons.at("back").find("symlink loop"), std::string::npos);
  if (::geteuid() != 0) {
    EXPECT_NE(reasons.at("locked").find("unreadable folder"), std::string::npos);
  }
  EXPECT_EQ(index.studies.size(), 1u);
}

}  // namespace
}  // namespace medpipe::dicom
