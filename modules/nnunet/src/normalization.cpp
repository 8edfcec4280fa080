#include "medpipe/nnunet/normalization.h"

#include <algorithm>
#include <cmath>

#include "medpipe/core/error.h"

namespace medpipe::nnunet {

namespace {

// numpy's pairwise_sum for float32 (8 accumulators below 128 values, halves above).
float PairwiseSum(const float* values, size_t n) {
  if (n < 8) {
    float sum = 0.0f;
    for (size_t i = 0; i < n; ++i) sum += values[i];
    return sum;
  }
  if (n <= 128) {
    float r[8];
    std::copy_n(values, 8, r);
    size_t i = 8;
    for (; i < n - n % 8; i += 8)
      for (int j = 0; j < 8; ++j) r[j] += values[i + j];
    float sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += values[i];
    return sum;
  }
  size_t half = n / 2;
  half -= half % 8;
  return PairwiseSum(values, half) + PairwiseSum(values + half, n - half);
}

// numpy divides a float32 sum by the count correctly rounded (float32 or float64 loop, same result).
float MeanOf(const std::vector<float>& values) {
  return static_cast<float>(static_cast<double>(PairwiseSum(values.data(), values.size())) / values.size());
}

// numpy's std: mean, squared float32 deviations, their mean, sqrt.
float StdOf(const std::vector<float>& values, float mean) {
  std::vector<float> squares(values.size());
  std::transform(values.begin(), values.end(), squares.begin(), [mean](float v) { return (v - mean) * (v - mean); });
  return std::sqrt(MeanOf(squares));
}

// max(std, 1e-8) as nnU-Net writes it: float32 either way.
float Divisor(double std) { return static_cast<float>(std::max(std, 1e-8)); }

void ZScore(float* image, size_t n, const uint8_t* mask) {
  std::vector<float> values;
  for (size_t i = 0; i < n; ++i)
    if (!mask || mask[i]) values.push_back(image[i]);
  if (values.empty()) return;  // an all-zero image: numpy's mean is NaN but no voxel is written
  const float mean = MeanOf(values);
  const float divisor = Divisor(StdOf(values, mean));
  for (size_t i = 0; i < n; ++i)
    if (!mask || mask[i]) image[i] = (image[i] - mean) / divisor;
}

void NormalizeChannel(float* image, size_t n, const uint8_t* mask, const ChannelNormalization& settings) {
  switch (settings.scheme) {
    case NormalizationScheme::Ct: {
      const auto low = static_cast<float>(settings.percentile_00_5);
      const auto high = static_cast<float>(settings.percentile_99_5);
      const auto mean = static_cast<float>(settings.mean);
      const float divisor = Divisor(settings.std);
      for (size_t i = 0; i < n; ++i) image[i] = (std::clamp(image[i], low, high) - mean) / divisor;
      return;
    }
    case NormalizationScheme::ZScore:
      return ZScore(image, n, settings.use_mask_for_norm ? mask : nullptr);
    case NormalizationScheme::None:
      return;
    case NormalizationScheme::RescaleTo01: {
      const float low = *std::min_element(image, image + n);
      for (size_t i = 0; i < n; ++i) image[i] -= low;
      const float divisor = Divisor(*std::max_element(image, image + n));
      for (size_t i = 0; i < n; ++i) image[i] /= divisor;
      return;
    }
    case NormalizationScheme::RgbTo01:
      for (size_t i = 0; i < n; ++i) image[i] /= 255.0f;
      return;
  }
}

}  // namespace

Array4 Normalize(Array4 data, const Mask3& mask, const std::vector<ChannelNormalization>& channels) {
  if (static_cast<int64_t>(channels.size()) != data.Channels() || mask.shape != data.Shape())
    throw InternalError("nnunet normalisation", "got " + std::to_string(data.Channels()) + " channels for " +
                                                    std::to_string(channels.size()) + " settings, or a mask of another shape");
  for (int64_t c = 0; c < data.Channels(); ++c)
    NormalizeChannel(data.Channel(c), static_cast<size_t>(data.ChannelSize()), mask.values.data(),
                     channels[static_cast<size_t>(c)]);
  return data;
}

}  // namespace medpipe::nnunet
