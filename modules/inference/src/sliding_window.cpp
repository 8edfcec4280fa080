#include "medpipe/inference/sliding_window.h"

#include <cmath>

namespace medpipe::inference {

std::vector<int64_t> WindowStarts(int64_t size, int64_t patch, double overlap) {
  if (size <= patch) return {0};
  const double target_step = static_cast<double>(patch) * (1.0 - overlap);
  const int64_t steps = static_cast<int64_t>(std::ceil((size - patch) / target_step)) + 1;
  const double actual_step = static_cast<double>(size - patch) / static_cast<double>(steps - 1);
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < steps; ++i) starts.push_back(static_cast<int64_t>(std::nearbyint(actual_step * i)));  // half to even, as numpy.round in nnU-Net
  return starts;
}

torch::Tensor GaussianImportance(const std::array<int64_t, 3>& patch_zyx) {
  auto map = torch::ones({1}, torch::kFloat64);
  for (int64_t length : patch_zyx) {
    // Separable: one 1-D Gaussian per axis, centred on voxel length / 2 as nnU-Net's map is.
    const auto position = torch::arange(length, torch::kFloat64) - static_cast<double>(length / 2);
    const double sigma = static_cast<double>(length) / 8.0;
    const auto profile = torch::exp(-position.pow(2) / (2.0 * sigma * sigma));
    map = map.unsqueeze(-1) * profile;
  }
  map = map.reshape({patch_zyx[0], patch_zyx[1], patch_zyx[2]});
  map = map / map.max();
  const auto smallest = map.masked_select(map > 0).min();
  map = torch::where(map > 0, map, smallest);
  return map.to(torch::kFloat32);
}

}  // namespace medpipe::inference
