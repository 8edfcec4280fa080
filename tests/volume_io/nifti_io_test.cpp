// NIfTI volumes as they arrive: a file whose voxels stop short of what its header says is refused,
// naming it, rather than read with zeros for the missing voxels.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <vector>

#include "dicom/reference_compare.h"
#include "image_support.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/volume_io/nifti_io.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;

class NiftiIngest : public testing::TempDirTest {};

// The first BYTES of FROM as TO.
void WriteHead(const fs::path& from, const fs::path& to, size_t bytes) {
  std::ofstream(to, std::ios::binary) << ReadFile(from).substr(0, bytes);
}

// Reading PATH, as one volume or as a 4-D series, throws an IoError that names it and says it is truncated.
void ExpectTruncatedRefused(const fs::path& path) {
  for (const auto& read : std::vector<std::function<void()>>{[&] { ReadNifti(path); }, [&] { ReadNiftiVolumes(path); }}) {
    try {
      read();
      ADD_FAILURE() << path << " was read";
    } catch (const IoError& error) {
      EXPECT_EQ(error.Where(), path.string());
      EXPECT_NE(std::string(error.what()).find("truncated"), std::string::npos) << error.what();
    }
  }
}

TEST_F(NiftiIngest, AFileCutShortIsRefusedNamingIt) {
  // Varied voxels, so that the compressed file is not a few hundred bytes of header and zeros.
  const auto image = MakeImage({{20, 18, 16}}, testing::Spacing(1, 1, 2), testing::Point(0, 0, 0), testing::Identity());
  for (size_t i = 0; i < image->GetPixelContainer()->Size(); ++i) image->GetBufferPointer()[i] = float((i * 7919) % 3001);
  for (const std::string extension : {".nii", ".nii.gz"}) {
    SCOPED_TRACE(extension);
    const fs::path whole = dir_ / ("whole" + extension), cut = dir_ / ("cut" + extension);
    WriteNifti(Volume{{image}}, whole);
    testing::ExpectSameVoxels(*ReadNifti(whole), *image, 0.0);
    WriteHead(whole, cut, fs::file_size(whole) * 3 / 4);
    ExpectTruncatedRefused(cut);
  }
}

// The first 3,000 bytes of a Medical Segmentation Decathlon volume: gzip and nibabel refuse them.
TEST_F(NiftiIngest, TheCutDecathlonFileIsRefused) {
  const char* relative = "hippocampus/data/TrainingSet/images/hippocampus_001.nii.gz";
  MEDPIPE_REQUIRE_SHARED_DATA(relative);
  WriteHead(testing::SharedData() / relative, dir_ / "hippocampus_001.nii.gz", 3000);
  ExpectTruncatedRefused(dir_ / "hippocampus_001.nii.gz");
}

}  // namespace
}  // namespace medpipe
