#include "medpipe/nnunet/nnunet_case.h"

#include <cmath>

#include "medpipe/nnunet/crop_to_nonzero.h"
#include "medpipe/nnunet/normalization.h"
#include "medpipe/nnunet/resampling.h"

namespace medpipe::nnunet {

namespace {

// convert_probabilities_to_segmentation of softmax(LOGITS) in float32: the first most probable channel.
Array4 ArgmaxOfSoftmax(const Array4& logits) {
  Array4 labels(1, logits.Shape());
  std::vector<float> probabilities(static_cast<size_t>(logits.Channels()));
  for (int64_t i = 0; i < logits.ChannelSize(); ++i) {
    float highest = -INFINITY;
    for (int64_t c = 0; c < logits.Channels(); ++c) highest = std::max(highest, logits.Channel(c)[i]);
    float sum = 0.0f;
    for (int64_t c = 0; c < logits.Channels(); ++c) sum += probabilities[c] = std::exp(logits.Channel(c)[i] - highest);
    int64_t best = 0;
    for (int64_t c = 1; c < logits.Channels(); ++c)
      if (probabilities[c] / sum > probabilities[best] / sum) best = c;
    labels.Channel(0)[i] = static_cast<float>(best);
  }
  return labels;
}

// Region models: each channel's sigmoid above 0.5 sets its label, later channels over earlier ones.
Array4 RegionLabels(const Array4& logits, const std::vector<int>& regions_class_order) {
  Array4 labels(1, logits.Shape());
  for (int64_t c = 0; c < logits.Channels(); ++c)
    for (int64_t i = 0; i < logits.ChannelSize(); ++i)
      if (1.0f / (1.0f + std::exp(-logits.Channel(c)[i])) > 0.5f)
        labels.Channel(0)[i] = static_cast<float>(regions_class_order[static_cast<size_t>(c)]);
  return labels;
}

}  // namespace

PreparedCase PrepareCase(const Array4& image, const Spacing3& spacing, const NnunetPlan& plan, unsigned threads) {
  PreparedCase prepared;
  const Array4 transposed = Transpose(image, plan.transpose_forward);
  prepared.transposed_shape = transposed.Shape();
  for (int a = 0; a < 3; ++a) prepared.spacing[a] = spacing[plan.transpose_forward[a]];
  const NonzeroCrop crop = FindNonzeroCrop(transposed);
  prepared.crop = crop.box;
  const Array4 normalized = Normalize(Crop(transposed, crop.box), crop.mask, plan.normalization);
  prepared.target_spacing = TargetSpacing(plan, prepared.spacing);
  const Shape3 shape = NewShape(normalized.Shape(), prepared.spacing, prepared.target_spacing);
  prepared.data = Resample(normalized, shape, prepared.spacing, prepared.target_spacing, plan.data,
                           plan.separate_z_anisotropy_threshold, threads);
  return prepared;
}

std::vector<uint8_t> LabelsFromLogits(const Array4& logits, const PreparedCase& prepared, const NnunetPlan& plan,
                                      unsigned threads) {
  const Array4 source = Resample(logits, prepared.crop.Extent(), prepared.target_spacing, prepared.spacing, plan.probabilities,
                                 plan.separate_z_anisotropy_threshold, threads, Stored::Float16);
  const Array4 labels = plan.has_regions ? RegionLabels(source, plan.regions_class_order) : ArgmaxOfSoftmax(source);
  const Array4 full = Transpose(Uncrop(labels, prepared.crop, prepared.transposed_shape, {0.0f}), plan.transpose_backward);
  return {full.Values().begin(), full.Values().end()};
}

}  // namespace medpipe::nnunet
