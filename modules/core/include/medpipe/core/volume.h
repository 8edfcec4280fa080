#pragma once
// The one image type stages exchange: float voxels in LPS patient space (ITK's convention).
#include <itkImage.h>
#include <itkImportImageContainer.h>

#include <functional>
#include <vector>

namespace medpipe {

using Image3D = itk::Image<float, 3>;
// Segmentation masks: 0 is background, 1..255 the labels a model's manifest names.
using LabelImage = itk::Image<uint8_t, 3>;

struct Volume {
  // One image per colour channel: 1 for greyscale, 3 for RGB. All share one geometry.
  std::vector<Image3D::Pointer> channels;

  bool IsColor() const { return channels.size() == 3; }
  const Image3D& Grid() const { return *channels.front(); }
};

// Pixel storage of an Image3D, and where a loader gets it: by default ordinary memory; a decoding
// process hands out shared memory that the process receiving the volume maps (no copy).
using VoxelBuffer = itk::ImportImageContainer<itk::SizeValueType, float>;
using VoxelAllocator = std::function<VoxelBuffer::Pointer(size_t count)>;
// COUNT uninitialised voxels in ordinary memory.
VoxelBuffer::Pointer AllocateVoxels(size_t count);

// A new image with the given size, spacing (mm), origin (mm, LPS) and direction, filled with zero.
Image3D::Pointer MakeImage(const Image3D::SizeType& size, const Image3D::SpacingType& spacing,
                           const Image3D::PointType& origin, const Image3D::DirectionType& direction);

}  // namespace medpipe
