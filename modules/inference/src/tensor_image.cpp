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

std::vector<Image3D::Pointer> TensorToImages(const torch::Tensor& tensor, const Image3D& grid) {
  const auto size = grid.GetLargestPossibleRegion().GetSize();
  if (tensor.dim() != 4 || tensor.size(1) != static_cast<int64_t>(size[2]) ||
      tensor.size(2) != static_cast<int64_t>(size[1]) || tensor.size(3) != static_cast<int64_t>(size[0]))
    throw Error(ErrorKind::Internal, "TensorToImages", "tensor shape does not match the image grid");
  const auto cpu = tensor.to(torch::kCPU, torch::kFloat32).contiguous();
  std::vector<Image3D::Pointer> images;
  for (int64_t c = 0; c < cpu.size(0); ++c) {
    auto image = MakeImage(size, grid.GetSpacing(), grid.GetOrigin(), grid.GetDirection());
    const auto channel = cpu[c];
    std::copy(channel.data_ptr<float>(), channel.data_ptr<float>() + channel.numel(), image->GetBufferPointer());
    images.push_back(image);
  }
  return images;
}

}  // namespace medpipe::inference
