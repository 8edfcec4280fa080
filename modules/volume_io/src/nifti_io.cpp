#include "medpipe/volume_io/nifti_io.h"

#include <itkCastImageFilter.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkNiftiImageIO.h>
#include <itkRGBPixel.h>
#include <nifti1_io.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/volume_io/parallel_gzip.h"

namespace medpipe {
namespace {

// ITK writes the sform made orthonormal, which moves the voxels of a slightly non-orthogonal grid (an
// oblique DICOM stack whose positions are rounded decimals) by micrometres: 2.2 um at the far corner of
// dicom2nifti's GE anatomical series. The sform of PATH (a plain .nii) gets IMAGE's own direction x
// spacing and origin, in RAS, as dcm2niix writes it; the qform stays ITK's rigid approximation.
template <typename Image>
void WriteExactSform(const Image* image, const std::filesystem::path& path) {
  std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
  nifti_1_header header{};
  if (!file.read(reinterpret_cast<char*>(&header), sizeof header) || header.sizeof_hdr != 348 || header.sform_code == 0)
    return;
  const auto& direction = image->GetDirection();
  const auto& spacing = image->GetSpacing();
  const auto& origin = image->GetOrigin();
  float* rows[3] = {header.srow_x, header.srow_y, header.srow_z};
  for (unsigned r = 0; r < 3; ++r) {
    const double lps_to_ras = r < 2 ? -1.0 : 1.0;
    for (unsigned c = 0; c < 3; ++c) rows[r][c] = static_cast<float>(lps_to_ras * direction[r][c] * spacing[c]);
    rows[r][3] = static_cast<float>(lps_to_ras * origin[r]);
  }
  file.seekp(0);
  if (!file.write(reinterpret_cast<const char*>(&header), sizeof header).flush())
    throw IoError(path.string(), "cannot write the NIfTI header's sform");
}

template <typename Image>
void WriteWithItk(const Image* image, const std::filesystem::path& path) {
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetImageIO(itk::NiftiImageIO::New());
  writer->SetInput(image);
  writer->SetFileName(path.string());
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& error) {
    throw IoError(path.string(), std::string("cannot write NIfTI: ") + error.GetDescription());
  }
  if (path.extension() == ".nii") WriteExactSform(image, path);
}

// Removes the file at its path when it goes out of scope.
class TemporaryFile {
 public:
  explicit TemporaryFile(std::filesystem::path path) : path_(std::move(path)) {}
  ~TemporaryFile() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  const std::filesystem::path& Path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A file mapped read-only, so that compressing it needs no copy of it.
class MappedFile {
 public:
  explicit MappedFile(const std::filesystem::path& path) : size_(std::filesystem::file_size(path)) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw IoError(path.string(), std::string("cannot read NIfTI back: ") + std::strerror(errno));
    data_ = size_ ? mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0) : nullptr;
    close(fd);
    if (data_ == MAP_FAILED) throw IoError(path.string(), std::string("cannot map NIfTI: ") + std::strerror(errno));
  }
  ~MappedFile() {
    if (data_) munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view View() const { return {static_cast<const char*>(data_), size_}; }

 private:
  size_t size_;
  void* data_ = nullptr;
};

void WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  const std::unique_ptr<FILE, decltype(&fclose)> file(fopen(path.c_str(), "wb"), fclose);
  if (!file) throw IoError(path.string(), std::string("cannot write NIfTI: ") + std::strerror(errno));
  if (fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size() || fflush(file.get()) != 0)
    throw IoError(path.string(), std::string("cannot write NIfTI: ") + std::strerror(errno));
}

// A .nii.gz holds the bytes ITK writes as .nii (header and voxels), compressed on the usable cores:
// ITK's writer compresses on one thread, and that was most of `medpipe convert`'s time.
template <typename Image>
void Write(const Image* image, const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  const std::string suffix = ".nii.gz";
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return WriteWithItk(image, path);
  const TemporaryFile plain(path.parent_path() /
                            ("." + name.substr(0, name.size() - 3) + ".partial-" + std::to_string(getpid()) + ".nii"));
  WriteWithItk(image, plain.Path());
  const MappedFile bytes(plain.Path());
  WriteBytes(path, GzipParallel(bytes.View()));
}

template <typename Pixel, typename Image>
void WriteAs(const typename Image::Pointer& image, const std::filesystem::path& path) {
  using Output = itk::Image<Pixel, Image::ImageDimension>;
  auto cast = itk::CastImageFilter<Image, Output>::New();
  cast->SetInput(image);
  cast->Update();
  Write<Output>(cast->GetOutput(), path);
}

template <typename Pixel>
bool FitsExactly(float min_value, float max_value) {
  return min_value >= static_cast<float>(std::numeric_limits<Pixel>::min()) &&
         max_value <= static_cast<float>(std::numeric_limits<Pixel>::max());
}

// IMAGE (float voxels, 3-D or 4-D) in the smallest type that holds every voxel exactly: int16 or
// uint16 for whole numbers in their range (as scanners store them), else float.
template <typename Image>
void WriteSmallestExact(const typename Image::Pointer& image, const std::filesystem::path& path) {
  const float* data = image->GetBufferPointer();
  const size_t count = image->GetPixelContainer()->Size();
  float min_value = std::numeric_limits<float>::max(), max_value = std::numeric_limits<float>::lowest();
  bool integral = true;
  for (size_t i = 0; i < count; ++i) {
    min_value = std::min(min_value, data[i]);
    max_value = std::max(max_value, data[i]);
    integral = integral && std::floor(data[i]) == data[i];
  }
  if (integral && FitsExactly<int16_t>(min_value, max_value)) return WriteAs<int16_t, Image>(image, path);
  if (integral && FitsExactly<uint16_t>(min_value, max_value)) return WriteAs<uint16_t, Image>(image, path);
  Write<Image>(image, path);
}

void WriteColor(const Volume& volume, const std::filesystem::path& path) {
  using ColorImage = itk::Image<itk::RGBPixel<unsigned char>, 3>;
  auto color = ColorImage::New();
  color->CopyInformation(volume.channels[0]);
  color->SetRegions(volume.channels[0]->GetLargestPossibleRegion());
  color->Allocate();
  const size_t count = volume.channels[0]->GetPixelContainer()->Size();
  ColorImage::PixelType* out = color->GetBufferPointer();
  for (size_t i = 0; i < count; ++i) {
    for (unsigned c = 0; c < 3; ++c) {
      out[i][c] = static_cast<unsigned char>(std::clamp(volume.channels[c]->GetBufferPointer()[i], 0.0f, 255.0f));
    }
  }
  Write<ColorImage>(color, path);
}

using Image4D = itk::Image<float, 4>;

// The volumes (greyscale, one grid) along a fourth axis of SPACING_4 (seconds between volumes).
Image4D::Pointer Stack4D(const std::vector<Volume>& volumes, double spacing_4) {
  const Image3D& grid = volumes.front().Grid();
  const auto size3 = grid.GetLargestPossibleRegion().GetSize();
  Image4D::SizeType size{{size3[0], size3[1], size3[2], volumes.size()}};
  Image4D::SpacingType spacing;
  Image4D::PointType origin;
  Image4D::DirectionType direction;
  direction.SetIdentity();
  for (unsigned r = 0; r < 3; ++r) {
    spacing[r] = grid.GetSpacing()[r];
    origin[r] = grid.GetOrigin()[r];
    for (unsigned c = 0; c < 3; ++c) direction[r][c] = grid.GetDirection()[r][c];
  }
  spacing[3] = spacing_4 > 0 ? spacing_4 : 1.0;
  origin[3] = 0;
  auto image = Image4D::New();
  image->SetRegions(Image4D::RegionType(size));
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate();
  const size_t count = grid.GetPixelContainer()->Size();
  for (size_t v = 0; v < volumes.size(); ++v) {
    const Image3D& volume = volumes[v].Grid();
    if (volumes[v].IsColor() || volume.GetPixelContainer()->Size() != count)
      throw InternalError("4-D NIfTI", "volume " + std::to_string(v) + " is not a greyscale image on volume 0's grid");
    std::copy_n(volume.GetBufferPointer(), count, image->GetBufferPointer() + v * count);
  }
  return image;
}


}  // namespace

void WriteNifti4D(const std::vector<Volume>& volumes, const std::filesystem::path& path, double seconds_per_volume) {
  if (volumes.size() == 1) return WriteNifti(volumes.front(), path);
  WriteSmallestExact<Image4D>(Stack4D(volumes, seconds_per_volume), path);
}

void WriteLabelNifti(const LabelImage& labels, const std::filesystem::path& path) { Write<LabelImage>(&labels, path); }

void WriteNifti(const Volume& volume, const std::filesystem::path& path) {
  if (volume.IsColor()) return WriteColor(volume, path);
  WriteSmallestExact<Image3D>(volume.channels.front(), path);
}

namespace {

// Decompressed bytes of PATH (gzip or plain), counted up to LIMIT.
uint64_t BytesUpTo(const std::string& path, uint64_t limit) {
  const std::unique_ptr<gzFile_s, decltype(&gzclose)> file(gzopen(path.c_str(), "rb"), gzclose);
  if (!file) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<char> block(1 << 20);
  uint64_t count = 0;
  while (count < limit) {
    const int got = gzread(file.get(), block.data(), static_cast<unsigned>(std::min<uint64_t>(block.size(), limit - count)));
    if (got <= 0) break;  // the end, or a corrupt stream
    count += static_cast<uint64_t>(got);
  }
  return count;
}

// niftilib fills the voxels a short file lacks with zeros and reports success, so the voxel bytes
// its header promises are counted here.
void RequireAllVoxels(const std::filesystem::path& path) {
  const std::unique_ptr<nifti_image, decltype(&nifti_image_free)> header(nifti_image_read(path.c_str(), 0),
                                                                        nifti_image_free);
  if (!header) throw IoError(path.string(), "cannot read the NIfTI header");
  const auto offset = static_cast<uint64_t>(header->iname_offset);
  const uint64_t expected = nifti_get_volsize(header.get());
  const uint64_t present = std::max(BytesUpTo(header->iname, offset + expected), offset) - offset;
  if (present < expected) {
    throw IoError(path.string(), "truncated NIfTI: its header gives " + std::to_string(expected) +
                                     " bytes of voxels, the file holds " + std::to_string(present) +
                                     " (cut short while copying?)");
  }
}

template <typename Image>
typename Image::Pointer Read(const std::filesystem::path& path) {
  auto reader = itk::ImageFileReader<Image>::New();
  reader->SetImageIO(itk::NiftiImageIO::New());
  reader->SetFileName(path.string());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& error) {
    throw IoError(path.string(), std::string("cannot read NIfTI: ") + error.GetDescription());
  }
  RequireAllVoxels(path);
  return reader->GetOutput();
}

}  // namespace

std::vector<Image3D::Pointer> ReadNiftiVolumes(const std::filesystem::path& path) {
  const Image4D::Pointer image = Read<Image4D>(path);
  const auto size = image->GetLargestPossibleRegion().GetSize();
  Image3D::SizeType size3{{size[0], size[1], size[2]}};
  Image3D::SpacingType spacing;
  Image3D::PointType origin;
  Image3D::DirectionType direction;
  for (unsigned r = 0; r < 3; ++r) {
    spacing[r] = image->GetSpacing()[r];
    origin[r] = image->GetOrigin()[r];
    for (unsigned c = 0; c < 3; ++c) direction[r][c] = image->GetDirection()[r][c];
  }
  std::vector<Image3D::Pointer> volumes;
  const size_t count = size3[0] * size3[1] * size3[2];
  for (size_t v = 0; v < size[3]; ++v) {
    auto volume = MakeImage(size3, spacing, origin, direction);
    std::copy_n(image->GetBufferPointer() + v * count, count, volume->GetBufferPointer());
    volumes.push_back(volume);
  }
  return volumes;
}

Image3D::Pointer ReadNifti(const std::filesystem::path& path) { return Read<Image3D>(path); }

LabelImage::Pointer ReadLabelNifti(const std::filesystem::path& path) { return Read<LabelImage>(path); }

}  // namespace medpipe
