// Headers read in a header-pass process come back as bytes: every header of the real and hostile
// data survives the trip unchanged, and cut or padded bytes are refused.
#include <gtest/gtest.h>

#include <filesystem>
#include <tuple>

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

// Every field set away from its default comes back as it went: a field the codec skipped or read
// in the wrong place would not.
TEST(FileHeaderCodec, EveryFieldComesBack) {
  FileHeader h;
  h.path = "/a.dcm", h.transfer_syntax_uid = "1.2.840.10008.1.2.1", h.sop_class_uid = "1.2.840.10008.5.1.4.1.1.2";
  h.sop_instance_uid = "1.2.3.1", h.study_instance_uid = "1.2.3", h.series_instance_uid = "1.2.3.4";
  h.frame_of_reference_uid = "1.2.3.5", h.uid_problem = "uid", h.modality = "CT", h.series_description = "head";
  h.image_type = "ORIGINAL\\PRIMARY", h.manufacturer = "GE", h.body_part = "HEAD", h.patient_position = "HFS";
  h.study_date = "20240102", h.series_number = 3, h.instance_number = 4, h.acquisition_number = 5, h.echo_number = 6;
  h.echo_time = 7.5, h.slice_thickness = 1.25, h.gantry_tilt_deg = -18.5, h.imager_pixel_spacing = {{0.1, 0.2}};
  h.window_center = 40, h.window_width = 400, h.has_pixel_data = true, h.encapsulated = true;
  h.pixel_data_length = uint64_t{1} << 40, h.enhanced = true, h.mosaic_tiles = 36;
  h.pixels = {512, 256, 3, 16, 12, 11, 1, 1, uint64_t{1} << 33, "RGB", true};
  h.frames = {{Vec3{1, 2, 3}, std::array<double, 6>{1, 0, 0, 0, 0, -1}, std::array<double, 2>{0.5, 0.6}, 2, -1024},
              {std::nullopt, std::nullopt, std::nullopt, 1, 0}};

  const auto texts = [](const FileHeader& x) {
    return std::tie(x.path, x.transfer_syntax_uid, x.sop_class_uid, x.sop_instance_uid, x.study_instance_uid,
                    x.series_instance_uid, x.frame_of_reference_uid, x.uid_problem, x.modality, x.series_description,
                    x.image_type, x.manufacturer, x.body_part, x.patient_position, x.study_date);
  };
  const auto numbers = [](const FileHeader& x) {
    return std::tie(x.series_number, x.instance_number, x.acquisition_number, x.echo_number, x.echo_time,
                    x.slice_thickness, x.gantry_tilt_deg, x.imager_pixel_spacing, x.window_center, x.window_width,
                    x.has_pixel_data, x.encapsulated, x.pixel_data_length, x.enhanced, x.mosaic_tiles);
  };
  const auto layout = [](const PixelLayout& p) {
    return std::tie(p.rows, p.columns, p.samples_per_pixel, p.bits_allocated, p.bits_stored, p.high_bit,
                    p.pixel_representation, p.planar_configuration, p.number_of_frames, p.photometric, p.floating);
  };
  const auto frame = [](const FrameInfo& f) {
    return std::tie(f.position, f.orientation, f.pixel_spacing, f.rescale_slope, f.rescale_intercept);
  };

  const FileHeader back = DecodeFileHeader(EncodeFileHeader(h));
  EXPECT_EQ(texts(back), texts(h));
  EXPECT_EQ(numbers(back), numbers(h));
  EXPECT_EQ(layout(back.pixels), layout(h.pixels));
  ASSERT_EQ(back.frames.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(frame(back.frames[i]), frame(h.frames[i])) << i;
}

}  // namespace
}  // namespace medpipe::dicom
