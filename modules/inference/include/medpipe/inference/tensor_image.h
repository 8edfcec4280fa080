#pragma once
// Between ITK images (x fastest in memory) and tensors laid out [channel, z, y, x] as networks expect.
#include <vector>

#include <torch/types.h>

#include "medpipe/core/volume.h"

namespace medpipe::inference {

// A [C, Z, Y, X] float tensor on the CPU, one channel per image of VOLUME (copied).
torch::Tensor VolumeToTensor(const Volume& volume);

// One image per channel of a [K, Z, Y, X] tensor, each with GRID's geometry.
std::vector<Image3D::Pointer> TensorToImages(const torch::Tensor& tensor, const Image3D& grid);

}  // namespace medpipe::inference
