#pragma once
// nnU-Net's data layout, (channel, d0, d1, d2) float32, row-major as numpy: the preprocessing works on
// these plain arrays, not on ITK images, so that it can reproduce nnU-Net's arithmetic exactly.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace medpipe::nnunet {

// Voxels along the three spatial axes, d0 outermost.
using Shape3 = std::array<int64_t, 3>;
// Millimetres between voxel centres along the three spatial axes.
using Spacing3 = std::array<double, 3>;
// A permutation of the three spatial axes, as nnU-Net's transpose_forward: output axis i is input axis axes[i].
using Axes3 = std::array<int, 3>;

inline int64_t VoxelCount(const Shape3& shape) { return shape[0] * shape[1] * shape[2]; }

// The box [begin, end) per spatial axis.
struct Box3 {
  Shape3 begin{};
  Shape3 end{};
  Shape3 Extent() const { return {end[0] - begin[0], end[1] - begin[1], end[2] - begin[2]}; }
  bool operator==(const Box3& other) const { return begin == other.begin && end == other.end; }
};

// A binary mask over the spatial axes, row-major.
struct Mask3 {
  Shape3 shape{};
  std::vector<uint8_t> values;
};

class Array4 {
 public:
  Array4() = default;
  Array4(int64_t channels, const Shape3& shape, float fill = 0.0f);

  int64_t Channels() const { return channels_; }
  const Shape3& Shape() const { return shape_; }
  int64_t ChannelSize() const { return VoxelCount(shape_); }
  float* Channel(int64_t c) { return values_.data() + c * ChannelSize(); }
  const float* Channel(int64_t c) const { return values_.data() + c * ChannelSize(); }
  float& At(int64_t c, int64_t i, int64_t j, int64_t k) { return Channel(c)[(i * shape_[1] + j) * shape_[2] + k]; }
  float At(int64_t c, int64_t i, int64_t j, int64_t k) const {
    return Channel(c)[(i * shape_[1] + j) * shape_[2] + k];
  }
  std::vector<float>& Values() { return values_; }
  const std::vector<float>& Values() const { return values_; }

 private:
  int64_t channels_ = 0;
  Shape3 shape_{};
  std::vector<float> values_;
};

// The spatial axes permuted (numpy's data.transpose([0, *(a + 1 for a in axes)])), copied.
Array4 Transpose(const Array4& data, const Axes3& axes);
// The voxels of every channel inside BOX, copied (numpy's data[:, box]).
Array4 Crop(const Array4& data, const Box3& box);
// DATA placed at BOX of an array of shape FULL whose channel c is FILL[c] elsewhere: Crop's inverse.
Array4 Uncrop(const Array4& data, const Box3& box, const Shape3& full, const std::vector<float>& fill);

}  // namespace medpipe::nnunet
