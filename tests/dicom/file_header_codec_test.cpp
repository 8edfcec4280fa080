// Headers read in a header-pass process come back as bytes: every header of the real and hostile
// data survives the trip unchanged, and cut or padded bytes are refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "medpipe/core/error.h"
#include "medpipe/dicom/archive_scanner.h"
#include "medpipe/dicom/file_header_codec.h"

namespace medpipe::dicom {
namespace {

namespace fs = std::filesystem;

TEST(FileHeaderCodec, EveryHeaderOfTheSharedDataComesBackUnchanged) {
  const fs::path data = fs::path(MEDPIPE_SHARED_DATA) / "dicom";
  if (!fs::exists(data)) GTEST_SKIP() << data << " is absent (see ../shared/data/README.md)";
  size_t headers = 0, frames = 0;
  for (const char* folder : {"dicom2nifti", "dcm_qa_ts", "dcm_qa_ct", "hostile/fuzz_corpus_v2", "totalseg"}) {
    for (const auto& header : ScanArchive(data / folder).headers) {
      const std::string bytes = EncodeFileHeader(header);
      const FileHeader back = DecodeFileHeader(bytes);
      ASSERT_EQ(EncodeFileHeader(back), bytes) << header.path;
      EXPECT_EQ(back.path, header.path);
      EXPECT_EQ(back.study_instance_uid, header.study_instance_uid) << header.path;
      EXPECT_EQ(back.pixels.TotalBytes(), header.pixels.TotalBytes()) << header.path;
      EXPECT_EQ(back.echo_time, header.echo_time) << header.path;
      ASSERT_EQ(back.frames.size(), header.frames.size()) << header.path;
      for (size_t i = 0; i < header.frames.size(); ++i) {
        EXPECT_EQ(back.frames[i].position, header.frames[i].position) << header.path;
        EXPECT_EQ(back.frames[i].rescale_slope, header.frames[i].rescale_slope) << header.path;
      }
      ++headers;
      frames += header.frames.size();
    }
  }
  EXPECT_GT(headers, 300u);
  EXPECT_GT(frames, headers);
}

TEST(FileHeaderCodec, CutOrPaddedBytesAreRefused) {
  FileHeader header;
  header.path = "/archive/a.dcm";
  header.frames.resize(3);
  header.echo_time = 4.5;
  const std::string bytes = EncodeFileHeader(header);
  for (size_t cut = 0; cut < bytes.size(); cut += 7) EXPECT_THROW(DecodeFileHeader(bytes.substr(0, cut)), DicomError) << cut;
  EXPECT_THROW(DecodeFileHeader(bytes + "x"), DicomError);
  EXPECT_EQ(DecodeFileHeader(bytes).echo_time, 4.5);
}

}  // namespace
}  // namespace medpipe::dicom
