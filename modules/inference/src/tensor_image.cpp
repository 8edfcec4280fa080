#include "medpipe/inference/tensor_image.h"

#include <algorithm>

#include "medpipe/core/error.h"

namespace medpipe::inference {

torch::Tensor VolumeToTensor(const Volume& volume) {
  const auto size = volume.Grid().GetLargestPossibleRegion().GetSize();
  const auto channels = static_cast<int64_t>(volume.channels.size());
  auto tensor = torch::empty({channels, static_cast<int64_t>(size[2]), static_cast<int64_t>(size[1]),
                              static_cast<int64_t>(size[0])},
                             torch::kFloat32);
  const int64_t voxels = tensor.numel() / channels;
  for (int64_t c = 0; c < channels; ++c) {
    const float* pixels = volume.channels[c]->GetBufferPointer();
    std::copy(pixels, pixels + voxels, tensor.data_ptr<float>() + c * voxels);
  }
  return tensor;
}

LabelImage::Pointer TensorToLabelImage(const torch::Tensor& labels, const Image3D& grid) {
  const auto size = grid.GetLargestPossibleRegion().GetSize();
  if (labels.dim() != 3 || labels.size(0) != static_cast<int64_t>(size[2]) ||
      labels.size(1) != static_cast<int64_t>(size[1]) || labels.size(2) != static_cast<int64_t>(size[0]))
    throw InternalError("TensorToLabelImage", "label map shape does not match the image grid");
  const auto cpu = labels.to(torch::kCPU, torch::kUInt8).contiguous();
  auto image = LabelImage::New();
  image->CopyInformation(&grid);
  image->SetRegions(grid.GetLargestPossibleRegion());
  image->Allocate();
  std::copy_n(cpu.data_ptr<uint8_t>(), cpu.numel(), image->GetBufferPointer());
  return image;
}

}  // namespace medpipe::inference
