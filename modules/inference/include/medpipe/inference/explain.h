#pragma once
// What a model sees in an image, from the feature maps of its forward_features method: an embedding
// vector, and for a classifier why it decided, a heat map over its 2-D input computed with LibTorch
// autograd on the TorchScript module (README: Explanations, Embeddings).
#include <string>

#include <torch/types.h>

#include "medpipe/inference/model.h"

namespace medpipe::inference {

// The embedding of IMAGE [C, Z, Y, X] (a prepared input, as Predict takes it): forward_features's
// maps [1, K, ...] averaged over their spatial axes, K floats on the CPU. Throws ModelError when the
// module has no forward_features.
torch::Tensor Embed(LoadedModel& model, const torch::Tensor& image);

struct Explanation {
  torch::Tensor heatmap;  // [H, W] float32 on the CPU, 0..1, the input's size
  std::string method;     // "grad-cam" or "saliency"
};

// For the logit of class CLASS_INDEX on IMAGE [C, 1, H, W] (a prepared 2-D input, as Predict takes it):
// Grad-CAM (Selvaraju et al. 2017) when the module has the methods forward_features(x) -> feature
// maps [N, K, h, w] and forward_head(features) -> logits, with forward(x) = forward_head(
// forward_features(x)): each feature map weighted by the mean gradient of the logit over it, summed,
// negative values dropped, scaled bilinearly to the input. Otherwise plain saliency (Simonyan et al.
// 2014): the absolute gradient of the logit with respect to the input, the largest over channels.
// Divided by its maximum (all zero when that is 0). Throws ModelError for a 3-D or segmentation model.
Explanation Explain(LoadedModel& model, const torch::Tensor& image, int64_t class_index);

}  // namespace medpipe::inference
