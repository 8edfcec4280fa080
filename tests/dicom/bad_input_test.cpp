// Hostile and broken files: each gets a per-file reason, nothing crashes, memory stays bounded.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <cmath>
#include <fstream>
#include <map>
#include <random>

#include "medpipe/core/error.h"
#include "medpipe/dicom/file_header_reader.h"
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

// CVE-2026-5443's class: a PALETTE COLOR image whose Rows x Columns x samples x frames wraps to 0 in
// 32 bits (32768 x 32768 x 1 byte x 4 frames = 2^32), so an empty PixelData passes a 32-bit length
// check and the decoder writes 4 GiB through the palette. Sized in 64 bits, it never reaches one.
TEST_F(BadInput, PaletteColorSizeThatWrapsIn32BitsIsRefusedBeforeDecode) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_SecondaryCaptureImageStorage, "1.2.3.4", "OT");
  testing::PutPixelModule(*ds, 32768, 32768, 1, 8, 8, "PALETTE COLOR");
  ds->putAndInsertString(DCM_NumberOfFrames, "4");
  for (const auto& tag : {DCM_RedPaletteColorLookupTableDescriptor, DCM_GreenPaletteColorLookupTableDescriptor,
                          DCM_BluePaletteColorLookupTableDescriptor}) {
    const Uint16 descriptor[] = {256, 0, 16};
    ds->putAndInsertUint16Array(tag, descriptor, 3);
  }
  const std::vector<Uint16> lut(256, 0xFFFF);
  for (const auto& tag : {DCM_RedPaletteColorLookupTableData, DCM_GreenPaletteColorLookupTableData,
                          DCM_BluePaletteColorLookupTableData})
    ds->putAndInsertUint16Array(tag, lut.data(), lut.size());
  const std::vector<Uint8> pixels;
  ds->putAndInsertUint8Array(DCM_PixelData, pixels.data(), 0);
  ASSERT_TRUE(file.saveFile((dir_ / "palette.dcm").c_str(), EXS_LittleEndianExplicit).good());
  for (const uint64_t limit : {uint64_t{4} << 30, uint64_t{1} << 40}) {
    HeaderLimits limits;
    limits.max_pixel_bytes = limit;
    try {
      ReadFileHeader((dir_ / "palette.dcm").string(), limits);
      ADD_FAILURE() << "a 4 GiB image with no pixel data was accepted";
    } catch (const DicomError& error) {
      const std::string reason = error.Reason();
      EXPECT_TRUE(reason.find("4294967296") != std::string::npos || reason.find("limit") != std::string::npos) << reason;
    }
  }
}

// A deflate bomb: 128 MiB of zeros in an OB element compress to about 128 KiB. DCMTK would
// inflate all of it into memory to read the header; medpipe counts first and refuses it.
TEST_F(BadInput, DeflatedFileThatInflatesPastTheLimitIsRefusedBeforeParsing) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  testing::PutIdentity(*ds, UID_CTImageStorage, "1.2.3.4", "CT");
  testing::PutPixelModule(*ds, 16, 16, 1, 16, 16, "MONOCHROME2");
  {
    const std::vector<Uint8> zeros(size_t{128} << 20, 0);
    ds->putAndInsertUint8Array(DCM_EncapsulatedDocument, zeros.data(), zeros.size());
  }
  const std::vector<Uint16> pixels(16 * 16, 7);
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
  ASSERT_TRUE(file.saveFile((dir_ / "bomb.dcm").c_str(), EXS_DeflatedLittleEndianExplicit).good());
  ASSERT_LT(fs::file_size(dir_ / "bomb.dcm"), size_t{4} << 20);
  ASSERT_GT(fs::file_size(dir_ / "bomb.dcm"), size_t{64} << 10) << "the zeros were not written";
  file.clear();

  HeaderLimits limits;
  limits.max_pixel_bytes = size_t{16} << 20;  // 16 MiB image + 64 MiB of headers < 128 MiB
  try {
    ReadFileHeader((dir_ / "bomb.dcm").string(), limits);
    ADD_FAILURE() << "the deflate bomb was parsed";
  } catch (const DicomError& error) {
    EXPECT_NE(error.Reason().find("inflates to more than"), std::string::npos) << error.Reason();
  }
  // Within the limit, the same file reads (the guard counts; it does not refuse deflate as such).
  limits.max_pixel_bytes = size_t{1} << 30;
  EXPECT_EQ(ReadFileHeader((dir_ / "bomb.dcm").string(), limits).pixels.rows, 16U);
}

// Little-endian bytes of VALUE, COUNT of them.
std::string Bytes(uint32_t value, int count) {
  std::string bytes;
  for (int i = 0; i < count; ++i) bytes += static_cast<char>(value >> (8 * i) & 0xFF);
  return bytes;
}

// Sequences nested 200,000 deep in a 7 MB file: DCMTK recursed once per level and the process died
// of a stack overflow (SIGSEGV, the whole scan with it). medpipe follows the bytes first and refuses
// the file, whether the nesting uses delimiters (explicit VR) or byte counts (implicit VR, where
// DCMTK recognises the sequence from its dictionary).
TEST_F(BadInput, SequencesNestedTooDeepAreRefusedBeforeDcmtkRecurses) {
  const std::string tag = Bytes(0x0040, 2) + Bytes(0xA730, 2);  // ContentSequence
  const std::string item = Bytes(0xFFFE, 2) + Bytes(0xE000, 2);
  const std::string delimiters = Bytes(0xFFFE, 2) + Bytes(0xE00D, 2) + Bytes(0, 4) + Bytes(0xFFFE, 2) + Bytes(0xE0DD, 2) + Bytes(0, 4);
  const auto write = [&](const std::string& name, const std::string& transfer_syntax, const std::string& body) {
    const std::string sop = Bytes(0x0008, 2) + Bytes(0x0018, 2) + "UI" + Bytes(10, 2) + "1.2.3.4.5" + std::string(1, '\0');
    const std::string meta_body = Bytes(0x0002, 2) + Bytes(0x0010, 2) + "UI" + Bytes(transfer_syntax.size(), 2) + transfer_syntax;
    const std::string meta = Bytes(0x0002, 2) + Bytes(0x0000, 2) + "UL" + Bytes(4, 2) + Bytes(meta_body.size(), 4) + meta_body;
    const std::string implicit_sop = Bytes(0x0008, 2) + Bytes(0x0018, 2) + Bytes(10, 4) + "1.2.3.4.5" + std::string(1, '\0');
    std::ofstream(dir_ / name, std::ios::binary)
        << std::string(128, '\0') << "DICM" << meta << (transfer_syntax[18] == '1' ? sop : implicit_sop) << body;
  };
  constexpr int kDepth = 200000;
  std::string delimited;
  for (int i = 0; i < kDepth; ++i) delimited += tag + "SQ" + Bytes(0, 2) + Bytes(0xFFFFFFFF, 4) + item + Bytes(0xFFFFFFFF, 4);
  for (int i = 0; i < kDepth; ++i) delimited += delimiters;
  write("delimited.dcm", std::string("1.2.840.10008.1.2.1") + '\0', delimited);
  std::string counted;
  for (int level = kDepth; level >= 1; --level)
    counted += tag + Bytes(16 * (level - 1) + 8, 4) + item + Bytes(16 * (level - 1), 4);
  write("counted.dcm", std::string("1.2.840.10008.1.2") + '\0', counted);
  fs::create_directories(dir_ / "media");
  write("media/DICOMDIR", std::string("1.2.840.10008.1.2.1") + '\0', delimited);  // DICOMDIRs get the same checks

  const auto reasons = Reasons(BuildIndex(ScanArchive(dir_)));
  for (const char* name : {"delimited.dcm", "counted.dcm", "DICOMDIR"})
    EXPECT_NE(reasons.at(name).find("sequences nest deeper than 128 levels"), std::string::npos) << name << ": " << reasons.at(name);
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

// Slice N of an axial CT at POSITION (mm), as the header pass describes it.
FileHeader AxialSliceAt(int n, const Vec3& position) {
  FileHeader header;
  header.path = "/archive/slice" + std::to_string(n) + ".dcm";
  header.sop_class_uid = UID_CTImageStorage;
  header.sop_instance_uid = "1.2.3.4.5." + std::to_string(n);
  header.study_instance_uid = "1.2.3";
  header.series_instance_uid = "1.2.3.4";
  header.modality = "CT";
  header.has_pixel_data = true;
  header.pixels.rows = header.pixels.columns = 8;
  header.frames = {{position, std::array<double, 6>{1, 0, 0, 0, 1, 0}, std::array<double, 2>{1, 1}}};
  return header;
}

// Both problems are recorded; the reason the series is not loaded is the one that refused it.
TEST_F(BadInput, ARefusedTiltIsTheReasonEvenWhenTheSpacingIsAlsoUneven) {
  ScanResult scan;
  int n = 0;
  for (const double z : {0.0, 2.0, 4.0, 7.0, 9.0, 11.0}) scan.headers.push_back(AxialSliceAt(++n, {0, z * std::tan(15 * M_PI / 180), z}));
  IndexOptions options;
  options.refuse_gantry_tilt = true;
  const Series series = BuildIndex(scan, options).studies.at(0).series.at(0);
  ASSERT_EQ(series.problems.size(), 2u);
  EXPECT_EQ(series.problems[0].rfind("uneven_slice_spacing", 0), 0u);
  try {
    LoadSeries(series);
    ADD_FAILURE() << "a refused series loaded";
  } catch (const DicomError& error) {
    EXPECT_NE(std::string(error.what()).find("is refused: gantry_tilt: slices are tilted 15.00 degrees; refused"), std::string::npos)
        << error.what();
  }
}

}  // namespace
}  // namespace medpipe::dicom
