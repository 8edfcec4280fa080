#include "medpipe/nnunet/array4.h"

#include <algorithm>

namespace medpipe::nnunet {

Array4::Array4(int64_t channels, const Shape3& shape, float fill)
    : channels_(channels), shape_(shape), values_(static_cast<size_t>(channels * VoxelCount(shape)), fill) {}

Array4 Transpose(const Array4& data, const Axes3& axes) {
  const Shape3& in = data.Shape();
  Array4 out(data.Channels(), {in[axes[0]], in[axes[1]], in[axes[2]]});
  const Shape3 in_strides{in[1] * in[2], in[2], 1};
  const Shape3 strides{in_strides[axes[0]], in_strides[axes[1]], in_strides[axes[2]]};
  const Shape3& shape = out.Shape();
  for (int64_t c = 0; c < data.Channels(); ++c) {
    const float* source = data.Channel(c);
    float* target = out.Channel(c);
    for (int64_t i = 0; i < shape[0]; ++i)
      for (int64_t j = 0; j < shape[1]; ++j)
        for (int64_t k = 0; k < shape[2]; ++k) *target++ = source[i * strides[0] + j * strides[1] + k * strides[2]];
  }
  return out;
}

namespace {

// Copies the rows of BOX (inner extent each) between an array of shape BIG and one of BOX's extent.
template <typename Copy>
void ForEachBoxRow(const Shape3& big, const Box3& box, const Copy& copy) {
  const Shape3 extent = box.Extent();
  for (int64_t i = 0; i < extent[0]; ++i)
    for (int64_t j = 0; j < extent[1]; ++j)
      copy(((box.begin[0] + i) * big[1] + box.begin[1] + j) * big[2] + box.begin[2], (i * extent[1] + j) * extent[2],
           extent[2]);
}

}  // namespace

Array4 Crop(const Array4& data, const Box3& box) {
  Array4 out(data.Channels(), box.Extent());
  for (int64_t c = 0; c < data.Channels(); ++c)
    ForEachBoxRow(data.Shape(), box, [&](int64_t big, int64_t small, int64_t n) {
      std::copy_n(data.Channel(c) + big, n, out.Channel(c) + small);
    });
  return out;
}

Array4 Uncrop(const Array4& data, const Box3& box, const Shape3& full, const std::vector<float>& fill) {
  Array4 out(data.Channels(), full);
  for (int64_t c = 0; c < data.Channels(); ++c) {
    std::fill_n(out.Channel(c), out.ChannelSize(), fill.at(static_cast<size_t>(c)));
    ForEachBoxRow(full, box, [&](int64_t big, int64_t small, int64_t n) {
      std::copy_n(data.Channel(c) + small, n, out.Channel(c) + big);
    });
  }
  return out;
}

}  // namespace medpipe::nnunet
