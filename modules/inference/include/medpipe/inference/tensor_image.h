#pragma once
// Between ITK images (x fastest in memory) and tensors laid out [channel, z, y, x] as networks expect.
#include <torch/types.h>

#include "medpipe/core/volume.h"

namespace medpipe::inference {

// A [C, Z, Y, X] float tensor on the CPU, one channel per image of VOLUME (copied).
torch::Tensor VolumeToTensor(const Volume& volume);

// A label image with GRID's geometry from a uint8 [Z, Y, X] label map (copied to the CPU if need be).
LabelImage::Pointer TensorToLabelImage(const torch::Tensor& labels, const Image3D& grid);

}  // namespace medpipe::inference
