#include "medpipe/volume_io/nifti_io.h"

#include <itkCastImageFilter.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkNiftiImageIO.h>
#include <itkRGBPixel.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "medpipe/core/error.h"

namespace medpipe {
namespace {

template <typename Image>
void Write(const Image* image, const std::filesystem::path& path) {
  auto writer = itk::ImageFileWriter<Image>::New();
  writer->SetImageIO(itk::NiftiImageIO::New());
  writer->SetInput(image);
  writer->SetFileName(path.string());
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& error) {
    throw IoError(path.string(), std::string("cannot write NIfTI: ") + error.GetDescription());
  }
}

template <typename Pixel>
void WriteAs(const Image3D::Pointer& image, const std::filesystem::path& path) {
  using Output = itk::Image<Pixel, 3>;
  auto cast = itk::CastImageFilter<Image3D, Output>::New();
  cast->SetInput(image);
  cast->Update();
  Write<Output>(cast->GetOutput(), path);
}

template <typename Pixel>
bool FitsExactly(float min_value, float max_value) {
  return min_value >= static_cast<float>(std::numeric_limits<Pixel>::min()) &&
         max_value <= static_cast<float>(std::numeric_limits<Pixel>::max());
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

}  // namespace

void WriteLabelNifti(const LabelImage& labels, const std::filesystem::path& path) { Write<LabelImage>(&labels, path); }

void WriteNifti(const Volume& volume, const std::filesystem::path& path) {
  if (volume.IsColor()) return WriteColor(volume, path);
  const Image3D::Pointer& image = volume.channels.front();
  const float* data = image->GetBufferPointer();
  const size_t count = image->GetPixelContainer()->Size();
  float min_value = std::numeric_limits<float>::max(), max_value = std::numeric_limits<float>::lowest();
  bool integral = true;
  for (size_t i = 0; i < count; ++i) {
    min_value = std::min(min_value, data[i]);
    max_value = std::max(max_value, data[i]);
    integral = integral && std::floor(data[i]) == data[i];
  }
  if (integral && FitsExactly<int16_t>(min_value, max_value)) return WriteAs<int16_t>(image, path);
  if (integral && FitsExactly<uint16_t>(min_value, max_value)) return WriteAs<uint16_t>(image, path);
  Write<Image3D>(image, path);
}

namespace {

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
  return reader->GetOutput();
}

}  // namespace

Image3D::Pointer ReadNifti(const std::filesystem::path& path) { return Read<Image3D>(path); }

LabelImage::Pointer ReadLabelNifti(const std::filesystem::path& path) { return Read<LabelImage>(path); }

}  // namespace medpipe
