#include "medpipe/core/volume.h"

namespace medpipe {

VoxelBuffer::Pointer AllocateVoxels(size_t count) {
  auto buffer = VoxelBuffer::New();
  buffer->Reserve(count);
  return buffer;
}

Image3D::Pointer MakeImage(const Image3D::SizeType& size, const Image3D::SpacingType& spacing,
                           const Image3D::PointType& origin, const Image3D::DirectionType& direction) {
  auto image = Image3D::New();
  image->SetRegions(Image3D::RegionType(size));
  image->SetSpacing(spacing);
  image->SetOrigin(origin);
  image->SetDirection(direction);
  image->Allocate(true);
  return image;
}

}  // namespace medpipe
