// The parallel gzip writer: one gzip member that zlib, gzip and nibabel decompress to the exact bytes,
// and .nii.gz files holding exactly the bytes ITK writes as .nii.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "dicom/reference_compare.h"
#include "image_support.h"
#include "medpipe/core/files.h"
#include "medpipe/volume_io/nifti_io.h"
#include "medpipe/volume_io/parallel_gzip.h"
#include "test_support.h"

namespace medpipe {
namespace {

namespace fs = std::filesystem;

// GZIP inflated by zlib as one gzip member; fails the test when bytes are left after its end.
std::string Gunzip(const std::string& gzip) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 16 + MAX_WBITS), Z_OK);
  std::string out;
  std::string buffer(1 << 16, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gzip.data()));
  stream.avail_in = static_cast<uInt>(gzip.size());
  int status = Z_OK;
  while (status == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer.data());
    stream.avail_out = static_cast<uInt>(buffer.size());
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer.data(), buffer.size() - stream.avail_out);
  }
  EXPECT_EQ(status, Z_STREAM_END);
  EXPECT_EQ(stream.avail_in, 0u) << "bytes after the first gzip member";
  inflateEnd(&stream);
  return out;
}

// Voxel-like bytes: a smooth int16 ramp with noise, compressible but not trivially.
std::string SampleBytes(size_t size) {
  std::mt19937 random(42);
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i % 2 ? (i / 4096) & 0x0f : (i / 7 + random() % 8) & 0xff);
  return bytes;
}

TEST(ParallelGzipTest, DecompressesToTheExactBytesWhateverTheBlocksAndThreads) {
  constexpr size_t kBlock = 40000;  // several blocks; the dictionary (32 KiB) is shorter than a block
  for (const size_t size : {size_t{0}, size_t{1}, kBlock - 1, kBlock, kBlock + 1, 5 * kBlock + 123}) {
    SCOPED_TRACE(size);
    const std::string data = SampleBytes(size);
    const std::string one_thread = GzipParallel(data, kNiftiGzipLevel, 1, kBlock);
    EXPECT_EQ(Gunzip(one_thread), data);
    EXPECT_EQ(GzipParallel(data, kNiftiGzipLevel, 4, kBlock), one_thread) << "the output depends on the threads";
  }
}

TEST(ParallelGzipTest, HeaderAndTrailerAreZlibsGzip) {
  const std::string data = SampleBytes(100000);
  const std::string gzip = GzipParallel(data, 6, 2, 32768);
  ASSERT_GE(gzip.size(), 18u);
  EXPECT_EQ(gzip.substr(0, 10), std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
  const auto trailer = [&](size_t at) {
    uint32_t value = 0;
    for (int i = 3; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(gzip[gzip.size() - at + i]);
    return value;
  };
  EXPECT_EQ(trailer(8), crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  EXPECT_EQ(trailer(4), data.size());
}

class ParallelGzipFiles : public testing::TempDirTest {};

TEST_F(ParallelGzipFiles, GzipDecompressesItToTheExactBytes) {
  if (std::system("gzip --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no gzip";
  const std::string data = SampleBytes(3 * kGzipBlockBytes + 17);
  std::ofstream(dir_ / "data.gz", std::ios::binary) << GzipParallel(data);
  ASSERT_EQ(std::system(("gzip -t '" + (dir_ / "data.gz").string() + "' && gzip -d '" + (dir_ / "data.gz").string() + "'").c_str()), 0);
  EXPECT_EQ(ReadFile(dir_ / "data"), data);
}

// A volume larger than a block, with varied voxels: the .nii.gz decompresses to the .nii ITK writes,
// medpipe and ITK read it back, and so does nibabel (when Debian's python3 has it).
TEST_F(ParallelGzipFiles, NiftiGzIsTheNiftiItkWritesAndNibabelReadsIt) {
  const auto image = MakeImage({{97, 83, 71}}, testing::Spacing(0.7, 0.8, 2.5), testing::Point(-10, 20, 5), testing::Identity());
  for (size_t i = 0; i < image->GetPixelContainer()->Size(); ++i)
    image->GetBufferPointer()[i] = float(int((i * 7919) % 3001) - 1000);
  WriteNifti(Volume{{image}}, dir_ / "volume.nii");
  WriteNifti(Volume{{image}}, dir_ / "volume.nii.gz");
  EXPECT_EQ(Gunzip(ReadFile(dir_ / "volume.nii.gz")), ReadFile(dir_ / "volume.nii"));
  testing::ExpectSameVoxels(*ReadNifti(dir_ / "volume.nii.gz"), *image, 0.0);
  for (const auto& entry : fs::directory_iterator(dir_))
    EXPECT_EQ(entry.path().filename().string().find(".partial"), std::string::npos) << "left behind: " << entry.path();
  if (std::system("/usr/bin/python3 -c 'import nibabel' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no nibabel";
  const std::string check = "/usr/bin/python3 -c \"import nibabel, numpy, sys; a = nibabel.load(sys.argv[1]); "
                            "b = nibabel.load(sys.argv[2]); "
                            "sys.exit(0 if numpy.array_equal(a.get_fdata(), b.get_fdata()) and a.shape == (97, 83, 71) "
                            "and numpy.allclose(a.affine, b.affine) else 1)\" '" +
                            (dir_ / "volume.nii.gz").string() + "' '" + (dir_ / "volume.nii").string() + "'";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

}  // namespace
}  // namespace medpipe
