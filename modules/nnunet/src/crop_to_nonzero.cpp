#include "medpipe/nnunet/crop_to_nonzero.h"

#include <algorithm>

#include "medpipe/nnunet/fill_holes.h"

namespace medpipe::nnunet {

namespace {

Mask3 NonzeroMask(const Array4& data) {
  Mask3 mask{data.Shape(), std::vector<uint8_t>(static_cast<size_t>(data.ChannelSize()), 0)};
  for (int64_t c = 0; c < data.Channels(); ++c) {
    const float* values = data.Channel(c);
    for (size_t i = 0; i < mask.values.size(); ++i) mask.values[i] |= values[i] != 0.0f;
  }
  return mask;
}

Box3 BoundingBox(const Mask3& mask) {
  const Shape3& shape = mask.shape;
  Box3 box{shape, {0, 0, 0}};
  size_t index = 0;
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j)
      for (int64_t k = 0; k < shape[2]; ++k) {
        if (!mask.values[index++]) continue;
        const Shape3 at{i, j, k};
        for (int axis = 0; axis < 3; ++axis) {
          box.begin[axis] = std::min(box.begin[axis], at[axis]);
          box.end[axis] = std::max(box.end[axis], at[axis] + 1);
        }
      }
  for (int axis = 0; axis < 3; ++axis)
    if (box.end[axis] == 0) box.begin[axis] = 0, box.end[axis] = shape[axis];
  return box;
}

}  // namespace

NonzeroCrop FindNonzeroCrop(const Array4& data) {
  Array4 filled(1, data.Shape());
  const Mask3 mask = FillHoles(NonzeroMask(data));
  std::copy(mask.values.begin(), mask.values.end(), filled.Values().begin());
  const Box3 box = BoundingBox(mask);
  const Array4 cropped = Crop(filled, box);
  return {box, Mask3{box.Extent(), std::vector<uint8_t>(cropped.Values().begin(), cropped.Values().end())}};
}

}  // namespace medpipe::nnunet
