#include "medpipe/nnunet/fill_holes.h"

#include <vector>

namespace medpipe::nnunet {

Mask3 FillHoles(const Mask3& mask) {
  const Shape3& shape = mask.shape;
  const Shape3 strides{shape[1] * shape[2], shape[2], 1};
  // Start as all foreground; background reached from the border is carved out by a flood fill.
  Mask3 filled{shape, std::vector<uint8_t>(mask.values.size(), 1)};
  std::vector<int64_t> stack;
  const auto visit = [&](int64_t index) {
    if (mask.values[index] || !filled.values[index]) return;
    filled.values[index] = 0;
    stack.push_back(index);
  };
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j)
      for (int64_t k = 0; k < shape[2]; ++k) {
        const bool border = i == 0 || j == 0 || k == 0 || i == shape[0] - 1 || j == shape[1] - 1 || k == shape[2] - 1;
        if (border) visit(i * strides[0] + j * strides[1] + k);
      }
  while (!stack.empty()) {
    const int64_t index = stack.back();
    stack.pop_back();
    for (int axis = 0; axis < 3; ++axis) {
      const int64_t position = index / strides[axis] % shape[axis];
      if (position > 0) visit(index - strides[axis]);
      if (position < shape[axis] - 1) visit(index + strides[axis]);
    }
  }
  return filled;
}

}  // namespace medpipe::nnunet
