#include "medpipe/report/review_copy.h"

#include <itkLinearInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "medpipe/volume_io/nifti_io.h"

namespace medpipe::report {
namespace {

// IMAGE on a grid of at most kReviewMaxInPlane columns and rows over the same extent.
Image3D::Pointer ReducedInPlane(const Image3D& image) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  const double factor = double(std::max(size[0], size[1])) / kReviewMaxInPlane;
  auto copy = Image3D::New();
  copy->Graft(&image);
  if (factor <= 1) return copy;
  Image3D::SizeType reduced = size;
  Image3D::SpacingType spacing = image.GetSpacing();
  itk::Vector<double, 3> shift;
  shift.Fill(0);
  for (unsigned a = 0; a < 2; ++a) {
    reduced[a] = std::max<itk::SizeValueType>(1, itk::SizeValueType(std::lround(size[a] / factor)));
    spacing[a] = image.GetSpacing()[a] * double(size[a]) / double(reduced[a]);
    // Voxel centres move so that the outer edges of the first and last voxels stay put.
    shift[a] = (spacing[a] - image.GetSpacing()[a]) / 2;
  }
  auto resample = itk::ResampleImageFilter<Image3D, Image3D>::New();
  resample->SetInput(copy);
  resample->SetInterpolator(itk::LinearInterpolateImageFunction<Image3D, double>::New());
  resample->SetSize(reduced);
  resample->SetOutputSpacing(spacing);
  resample->SetOutputOrigin(image.GetOrigin() + image.GetDirection() * shift);
  resample->SetOutputDirection(image.GetDirection());
  resample->SetDefaultPixelValue(0);
  resample->Update();
  return resample->GetOutput();
}

}  // namespace

void WriteReviewImage(const Image3D& image, const std::filesystem::path& path, float scale) {
  const Image3D::Pointer reduced = ReducedInPlane(image);
  auto review = MakeImage(reduced->GetLargestPossibleRegion().GetSize(), reduced->GetSpacing(), reduced->GetOrigin(),
                          reduced->GetDirection());
  const float* in = reduced->GetBufferPointer();
  float* out = review->GetBufferPointer();
  constexpr float kLow = std::numeric_limits<int16_t>::min(), kHigh = std::numeric_limits<int16_t>::max();
  // NaN (which no clamp catches) becomes 0.
  for (size_t i = 0, n = review->GetPixelContainer()->Size(); i < n; ++i)
    out[i] = std::isnan(in[i]) ? 0.0f : std::clamp(std::round(in[i] * scale), kLow, kHigh);
  WriteNifti(Volume{{review}}, path);
}

}  // namespace medpipe::report
