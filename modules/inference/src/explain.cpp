#include "medpipe/inference/explain.h"

#include <torch/torch.h>

#include "medpipe/core/error.h"

namespace medpipe::inference {
namespace {

// A prepared IMAGE [C, Z, Y, X] as the network's batch of one, float32 on its device: [1, C, Z, Y, X],
// or [1, C, Y, X] for a 2-D model (as Predict feeds it).
torch::Tensor NetworkInput(const LoadedModel& model, const torch::Tensor& image) {
  const auto batch = image.unsqueeze(0).to(model.Device(), torch::kFloat32);
  return model.Manifest().spatial_dims == 2 ? batch.squeeze(2) : batch;
}

torch::Tensor Normalised(const torch::Tensor& map) {
  const auto top = map.max();
  return top.item<float>() > 0 ? map / top : torch::zeros_like(map);
}

torch::Tensor GradCam(torch::jit::Module& module, const torch::Tensor& input, int64_t class_index) {
  auto features = module.get_method("forward_features")({input}).toTensor();
  if (features.dim() != 4) throw ModelError("forward_features", "returned " + std::to_string(features.dim()) +
                                                                   " dimensions; Grad-CAM needs feature maps [N, K, h, w]");
  // The feature maps become a leaf, so that the gradient stops there.
  features = features.detach().requires_grad_(true);
  const auto logits = module.get_method("forward_head")({features}).toTensor();
  const auto gradient = torch::autograd::grad({logits.index({0, class_index})}, {features})[0];
  const auto weights = gradient.mean({2, 3}, /*keepdim=*/true);
  const auto cam = torch::relu((weights * features).sum(1, /*keepdim=*/true)).detach();
  namespace F = torch::nn::functional;
  return F::interpolate(cam, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{input.size(2), input.size(3)})
                                 .mode(torch::kBilinear)
                                 .align_corners(false))[0][0];
}

torch::Tensor Saliency(torch::jit::Module& module, const torch::Tensor& input, int64_t class_index) {
  const auto leaf = input.detach().requires_grad_(true);
  const auto logits = module.forward({leaf}).toTensor();
  const auto gradient = torch::autograd::grad({logits.index({0, class_index})}, {leaf})[0];
  return std::get<0>(gradient.abs().max(1))[0];
}

}  // namespace

torch::Tensor Embed(LoadedModel& model, const torch::Tensor& image) {
  if (!model.HasFeatures()) throw ModelError(model.Manifest().name, "has no forward_features method to embed with");
  c10::InferenceMode inference_mode;
  const auto maps = model.Saved().get_method("forward_features")({NetworkInput(model, image)}).toTensor();
  if (maps.dim() < 3) throw ModelError("forward_features", "returned " + std::to_string(maps.dim()) +
                                                               " dimensions; embeddings need feature maps [N, K, ...]");
  return maps.flatten(2).mean(2)[0].to(torch::kCPU, torch::kFloat32);
}

Explanation Explain(LoadedModel& model, const torch::Tensor& image, int64_t class_index) {
  const auto& manifest = model.Manifest();
  if (manifest.task != model::Task::Classification || manifest.spatial_dims != 2)
    throw ModelError(manifest.name, "explanations are for 2-D classifiers");
  torch::jit::Module& module = model.Saved();
  // Gradients need autograd, which inference mode (elsewhere in this module) switches off.
  torch::AutoGradMode gradients(true);
  const auto input = NetworkInput(model, image);  // [1, C, H, W]
  const bool grad_cam = model.HasFeatures() && module.find_method("forward_head");
  const auto map = grad_cam ? GradCam(module, input, class_index) : Saliency(module, input, class_index);
  return {Normalised(map).to(torch::kCPU, torch::kFloat32), grad_cam ? "grad-cam" : "saliency"};
}

}  // namespace medpipe::inference
