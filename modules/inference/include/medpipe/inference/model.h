#pragma once
// A model package loaded for inference: manifest checked, weights verified, golden vector passed.
#include <filesystem>
#include <optional>
#include <string>

#include <torch/script.h>

#include "medpipe/inference/settings.h"
#include "medpipe/model/manifest.h"

namespace medpipe::inference {

// The golden input for SHAPE: x[i] = sin(0.37 i), computed in double, stored as float.
torch::Tensor GoldenInput(const std::vector<int64_t>& shape);

class LoadedModel {
 public:
  // Reads DIRECTORY's manifest, checks model.pt's sha256, loads it onto DEVICE and runs the golden
  // vector in fp32, refusing (ModelError) a model that differs. On the CPU the module runs frozen, its
  // stride-equals-kernel transposed convolutions rewritten (cpu_module.h), on the usable cores.
  // Reduced precision (fp16 and bf16 on CUDA, bf16 on CPUs with bf16 arithmetic; auto picks) is kept
  // only if its probabilities on the golden input stay within 0.05 of fp32's; otherwise the model
  // runs in fp32 and PrecisionNote() says why.
  static LoadedModel Load(const std::filesystem::path& directory, torch::Device device, Precision precision);

  const model::Manifest& Manifest() const { return manifest_; }
  torch::Device Device() const { return device_; }
  Precision ActivePrecision() const { return precision_; }
  const std::string& PrecisionNote() const { return precision_note_; }

  // Network output for BATCH (float32, any device) as float32 on the model's device.
  torch::Tensor Forward(const torch::Tensor& batch);

  // Moves the model (e.g. to the CPU in fp32 after GPU out-of-memory, and back afterwards).
  void MoveTo(torch::Device device, Precision precision);

  // The module as saved, in float32 on the model's device, for gradients and feature maps
  // (explain.h): the graph that Forward runs on the CPU is frozen, which drops other methods and
  // autograd. Kept for classifiers and for models with forward_features; throws ModelError otherwise.
  torch::jit::Module& Saved();
  // Whether the module has forward_features(x) -> feature maps [N, K, ...] (embeddings, Grad-CAM).
  bool HasFeatures() const { return has_features_; }

 private:
  LoadedModel(model::Manifest manifest, torch::jit::Module module, torch::Device device);

  model::Manifest manifest_;
  torch::jit::Module module_;
  std::optional<torch::jit::Module> saved_;
  bool has_features_ = false;
  torch::Device device_;
  Precision precision_ = Precision::Fp32;
  std::string precision_note_;
};

// Applies the manifest's output activation along the channel dimension (1).
torch::Tensor Activate(const torch::Tensor& logits, model::Activation activation);

// Fills DIRECTORY/manifest.json's sha256 and golden output (output_shape, stride, samples) from
// model.pt run on the CPU in fp32; golden.input_shape must already be set. The model's author runs
// this once when packaging; every later load on any device is checked against it.
void SealModel(const std::filesystem::path& directory);

}  // namespace medpipe::inference
