#include "medpipe/nnunet/sliding_window.h"

#include <algorithm>
#include <cmath>

#include "medpipe/nnunet/patch_padding.h"

namespace medpipe::nnunet {

namespace {

constexpr double kGaussianTruncate = 4.0;  // scipy.ndimage.gaussian_filter's default

// scipy's _gaussian_kernel1d for order 0: exp(-x^2 / 2 sigma^2) over [-radius, radius], normalised.
std::vector<double> GaussianKernel(double sigma) {
  const auto radius = static_cast<int64_t>(kGaussianTruncate * sigma + 0.5);
  std::vector<double> kernel;
  double sum = 0.0;
  for (int64_t x = -radius; x <= radius; ++x) {
    kernel.push_back(std::exp(-0.5 / (sigma * sigma) * static_cast<double>(x * x)));
    sum += kernel.back();
  }
  for (double& w : kernel) w /= sum;
  return kernel;
}

// The impulse's response along one axis of N voxels, centred at N // 2; 1 for an axis of one voxel.
std::vector<double> AxisResponse(int64_t n, double sigma) {
  if (n == 1) return {1.0};
  const std::vector<double> kernel = GaussianKernel(sigma);
  const auto radius = static_cast<int64_t>(kernel.size() / 2);
  std::vector<double> response(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t offset = i - n / 2;
    if (std::abs(offset) <= radius) response[static_cast<size_t>(i)] = kernel[static_cast<size_t>(offset + radius)];
  }
  return response;
}

// The view of DATA's PATCH-sized box at START along its last three dimensions.
torch::Tensor Window(const torch::Tensor& data, const std::array<int64_t, 3>& start, const Shape3& patch) {
  const int64_t first = data.dim() - 3;
  return data.narrow(first, start[0], patch[0]).narrow(first + 1, start[1], patch[1]).narrow(first + 2, start[2], patch[2]);
}

// The flips nnU-Net averages, in its order: none, then the non-empty subsets of AXES by size
// (itertools.combinations), as tensor dimensions from FIRST (the first spatial dimension).
std::vector<std::vector<int64_t>> MirrorCombinations(const std::vector<int>& axes, int64_t first) {
  std::vector<std::vector<int64_t>> combinations{{}};
  const size_t n = axes.size();
  for (size_t size = 1; size <= n; ++size) {
    std::vector<bool> chosen(n, false);
    std::fill(chosen.begin(), chosen.begin() + static_cast<std::ptrdiff_t>(size), true);
    do {
      std::vector<int64_t> combination;
      for (size_t i = 0; i < n; ++i)
        if (chosen[i]) combination.push_back(axes[i] + first);
      combinations.push_back(combination);
    } while (std::prev_permutation(chosen.begin(), chosen.end()));
  }
  return combinations;
}

// _internal_maybe_mirror_and_predict for TILES [T, C, *patch]: [F, T, K, *patch], the flipped copies'
// logits flipped back and averaged with the unflipped ones in float32 (all copies in one batch). A 2-D
// network (SLICE_BY_SLICE, the patch's d0 of 1) sees the tiles without that axis.
torch::Tensor PredictTiles(const FoldLogits& network, const torch::Tensor& tiles, const std::vector<int>& mirror_axes,
                           bool slice_by_slice) {
  const auto inputs = MirrorCombinations(mirror_axes, 2);
  std::vector<torch::Tensor> batch;
  for (const auto& dims : inputs) batch.push_back(dims.empty() ? tiles : torch::flip(tiles, dims));
  torch::Tensor input = torch::cat(batch);
  if (slice_by_slice) input = input.squeeze(2);
  torch::Tensor out = network(input).to(torch::kCPU, torch::kFloat32);
  if (slice_by_slice) out = out.unsqueeze(3);  // [F, N, K, 1, p0, p1]
  const int64_t copies = static_cast<int64_t>(inputs.size());
  std::vector<int64_t> shape{out.size(0), copies, tiles.size(0)};
  for (int64_t d = 2; d < out.dim(); ++d) shape.push_back(out.size(d));
  out = out.reshape(shape);
  torch::Tensor total = out.select(1, 0).clone();
  const auto outputs = MirrorCombinations(mirror_axes, 3);
  for (int64_t i = 1; i < copies; ++i) total += torch::flip(out.select(1, i), outputs[static_cast<size_t>(i)]);
  return copies > 1 ? total / static_cast<double>(copies) : total;
}

}  // namespace

std::array<std::vector<int64_t>, 3> TileStarts(const Shape3& size, const Shape3& patch, double step,
                                               bool slice_by_slice) {
  std::array<std::vector<int64_t>, 3> starts;
  if (slice_by_slice)
    for (int64_t d = 0; d < size[0]; ++d) starts[0].push_back(d);
  for (int a = slice_by_slice ? 1 : 0; a < 3; ++a) {
    const double target = static_cast<double>(patch[a]) * step;
    const auto count = static_cast<int64_t>(std::ceil(static_cast<double>(size[a] - patch[a]) / target)) + 1;
    const double stride = count > 1 ? static_cast<double>(size[a] - patch[a]) / static_cast<double>(count - 1) : 0.0;
    for (int64_t i = 0; i < count; ++i) starts[a].push_back(static_cast<int64_t>(std::nearbyint(stride * static_cast<double>(i))));
  }
  return starts;
}

torch::Tensor GaussianImportance(const Shape3& patch, double sigma_scale, double value_scaling) {
  std::array<std::vector<double>, 3> axes;
  for (int a = 0; a < 3; ++a) axes[a] = AxisResponse(patch[a], static_cast<double>(patch[a]) * sigma_scale);
  torch::Tensor gaussian = torch::empty({patch[0], patch[1], patch[2]}, torch::kDouble);
  double* values = gaussian.data_ptr<double>();
  // scipy filters axis 0, then 1, then 2: each voxel is k2 * (k1 * k0), rounded in that order.
  for (int64_t i = 0; i < patch[0]; ++i)
    for (int64_t j = 0; j < patch[1]; ++j)
      for (int64_t k = 0; k < patch[2]; ++k) *values++ = axes[2][k] * (axes[1][j] * axes[0][i]);
  gaussian /= gaussian.max() / value_scaling;
  gaussian = gaussian.to(torch::kHalf);
  const torch::Tensor zero = gaussian == 0;
  gaussian.masked_fill_(zero, gaussian.masked_select(~zero).min().item());
  return gaussian;
}

WindowLogits PredictLogits(const FoldLogits& network, const Array4& data, const NnunetPlan& plan, int64_t tile_batch) {
  const Shape3& patch = plan.patch_size;
  const PatchPadding padding = PaddingFor(data.Shape(), patch);
  Array4 padded_array = PadToPatch(data, patch);
  const torch::Tensor padded = torch::from_blob(padded_array.Values().data(),
                                                {data.Channels(), padding.shape[0], padding.shape[1], padding.shape[2]},
                                                torch::kFloat32);
  const InferenceSettings& settings = plan.inference;
  const torch::Tensor gaussian = settings.use_gaussian
                                     ? GaussianImportance(patch, settings.gaussian_sigma_scale, settings.gaussian_value_scaling)
                                     : torch::ones({patch[0], patch[1], patch[2]}, torch::kHalf);
  const auto starts = TileStarts(padding.shape, patch, settings.tile_step_size, plan.slice_by_slice);
  std::vector<std::array<int64_t, 3>> windows;
  for (int64_t s0 : starts[0])
    for (int64_t s1 : starts[1])
      for (int64_t s2 : starts[2]) windows.push_back({s0, s1, s2});

  c10::InferenceMode inference_mode;
  torch::Tensor logits;  // [F, K, *padded], float16
  torch::Tensor weights = torch::zeros({padding.shape[0], padding.shape[1], padding.shape[2]}, torch::kHalf);
  for (size_t first = 0; first < windows.size(); first += static_cast<size_t>(tile_batch)) {
    const size_t last = std::min(windows.size(), first + static_cast<size_t>(tile_batch));
    std::vector<torch::Tensor> tiles;
    for (size_t w = first; w < last; ++w) tiles.push_back(Window(padded, windows[w], patch));
    const torch::Tensor predictions = PredictTiles(network, torch::stack(tiles), settings.mirror_axes, plan.slice_by_slice);
    if (!logits.defined())
      logits = torch::zeros({predictions.size(0), predictions.size(2), padding.shape[0], padding.shape[1], padding.shape[2]},
                            torch::kHalf);
    for (size_t w = first; w < last; ++w) {
      torch::Tensor prediction = predictions.select(1, static_cast<int64_t>(w - first));
      prediction *= gaussian;  // float32 * float16 -> float32, as in nnU-Net
      // Added in float32 and rounded once to float16, as torch does for nnU-Net's +=.
      Window(logits, windows[w], patch).add_(prediction);
      Window(weights, windows[w], patch).add_(gaussian);
    }
  }
  logits /= weights;
  torch::Tensor combined = logits[0];
  for (int64_t fold = 1; fold < logits.size(0); ++fold) combined += logits[fold];
  if (logits.size(0) > 1) combined /= static_cast<double>(logits.size(0));

  const torch::Tensor unpadded =
      Window(combined, padding.region.begin, data.Shape()).to(torch::kFloat32).contiguous();
  WindowLogits result{Array4(unpadded.size(0), data.Shape()), static_cast<int64_t>(windows.size())};
  std::copy_n(unpadded.data_ptr<float>(), unpadded.numel(), result.logits.Values().data());
  return result;
}

}  // namespace medpipe::nnunet
