#pragma once
// Small TorchScript models with known weights, built in C++ and packaged with a sealed manifest.
#include <torch/script.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "medpipe/core/files.h"
#include "medpipe/inference/model.h"

namespace medpipe::testing {

// A TorchScript module whose forward is SOURCE (a `def forward(self, x):` body), with parameter W.
inline torch::jit::Module ScriptModel(const std::string& source, const torch::Tensor& w = torch::zeros({1})) {
  torch::jit::Module module("TestModel");
  module.register_parameter("w", w, false);
  module.define(source);
  return module;
}

// Per voxel: 1 -> 2 channels (1x1x1 conv), ReLU, 2 -> 3 channels. Fully convolutional and pointwise,
// so any tiling of the input gives the same output.
inline torch::jit::Module PointwiseModel() {
  return ScriptModel(R"(
def forward(self, x):
    h = torch.relu(torch.conv3d(x, self.w[0:2].reshape([2, 1, 1, 1, 1]), self.w[2:4]))
    return torch.conv3d(h, self.w[4:10].reshape([3, 2, 1, 1, 1]), self.w[10:13])
)",
                     torch::tensor({1.5f, -0.8f, 0.2f, 0.1f, 0.7f, -1.1f, 0.4f, 0.9f, -0.3f, 0.5f, 0.05f, -0.2f, 0.3f}));
}

// Marks voxels between 70 and 300 HU (after CT normalisation HU / 500): background logit 0,
// lesion logit 50 * distance inside the band.
inline torch::jit::Module LesionBandModel() {
  return ScriptModel(R"(
def forward(self, x):
    lesion = torch.minimum(x - 0.14, 0.6 - x) * 50.0
    return torch.cat([torch.zeros_like(lesion), lesion], 1)
)");
}

// LesionBandModel that never returns on a patch of constant 1000 HU (2.0 after normalisation): a
// hung model, for the study-timeout and worker-crash tests.
inline torch::jit::Module HangOnConstantModel() {
  return ScriptModel(R"(
def forward(self, x):
    if bool(torch.max(x) - torch.min(x) < 1e-6) and bool(torch.mean(x) > 1.9):
        i = 0
        while i >= 0:
            i = i + 1
    lesion = torch.minimum(x - 0.14, 0.6 - x) * 50.0
    return torch.cat([torch.zeros_like(lesion), lesion], 1)
)");
}

// Two classes from the mean intensity of a 2-D image: logits (4 m - 2, 2 - 4 m).
// Outputs (0, x) per voxel, and fails with MESSAGE for any batch of more than one patch.
inline torch::jit::Module BatchLimitedModel(const std::string& message) {
  return ScriptModel("def forward(self, x):\n    assert x.size(0) <= 1, \"" + message +
                     "\"\n    return torch.cat([x * 0.0, x], 1)\n");
}

inline torch::jit::Module MeanIntensityClassifier() {
  return ScriptModel(R"(
def forward(self, x):
    m = torch.mean(x, [1, 2, 3]).unsqueeze(1)
    return torch.cat([4.0 * m - 2.0, 2.0 - 4.0 * m], 1)
)");
}

// A 2-D classifier that reads only the left half of its input, built for Grad-CAM: forward_features
// splits the image into two feature maps, its left half and its right half; forward_head's
// "abnormal" logit is the left map's mean.
inline torch::jit::Module LeftHalfClassifier() {
  return ScriptModel(R"(
def forward_features(self, x):
    left = torch.zeros_like(x)
    left[:, :, :, : x.size(3) // 2] = 1.0
    return torch.cat([x * left, x * (1.0 - left)], 1)

def forward_head(self, f):
    a = torch.mean(f[:, 0], [1, 2])
    return torch.stack([-a, a], 1)

def forward(self, x):
    return self.forward_head(self.forward_features(x))
)");
}

// A 2-D classifier without feature methods (saliency only) whose "abnormal" logit is the energy of
// the window rows 8-15, columns 4-11.
inline torch::jit::Module WindowEnergyClassifier() {
  return ScriptModel(R"(
def forward(self, x):
    a = torch.sum(x[:, :, 8:16, 4:12] ** 2, [1, 2, 3])
    return torch.stack([-a, a], 1)
)");
}

// A 3-D classifier with forward_features: feature maps x, x * x and relu(x - 0.5) (so embeddings are
// their means), and "abnormal" logits from the first map's mean.
inline torch::jit::Module FeatureClassifier() {
  return ScriptModel(R"(
def forward_features(self, x):
    return torch.cat([x, x * x, torch.relu(x - 0.5)], 1)

def forward(self, x):
    m = torch.mean(self.forward_features(x)[:, 0], [1, 2, 3]).unsqueeze(1)
    return torch.cat([-m, m], 1)
)");
}

// The manifest of a 3-D CT segmentation model with labels 1..OUTPUTS-1 (softmax).
inline nlohmann::json SegmentationManifest(const std::string& name, int outputs, int patch) {
  nlohmann::json labels = nlohmann::json::array();
  for (int value = 1; value < outputs; ++value)
    labels.push_back({{"value", value}, {"name", "label" + std::to_string(value)}, {"colour", {255, 64 * value % 256, 0}}});
  return {{"name", name},
          {"version", "1.0.0"},
          {"task", "segmentation"},
          {"license", "CC0-1.0"},
          {"training_data", "none: weights set by the test"},
          {"sha256", ""},
          {"input",
           {{"channels", {{{"name", "CT"}, {"modality", "CT"}}}},
            {"spatial_dims", 3},
            {"orientation", nullptr},
            {"spacing_mm", nullptr},
            {"patch_size", {patch, patch, patch}},
            {"normalisation", {{"scheme", "ct"}, {"clip", {-1000, 1000}}, {"mean", 0}, {"std", 500}}},
            {"mirror_axes", {0, 1, 2}}}},
          {"output", {{"activation", "softmax"}, {"labels", labels}}},
          {"golden", {{"input_shape", {1, 1, patch, patch, patch}}}}};
}

// The manifest of a 2-D X-ray classifier with classes "normal" and "abnormal".
inline nlohmann::json ClassifierManifest(const std::string& name, int size) {
  return {{"name", name},
          {"version", "1.0.0"},
          {"task", "classification"},
          {"license", "CC0-1.0"},
          {"training_data", "none: weights set by the test"},
          {"sha256", ""},
          {"input",
           {{"channels", {{{"name", "DX"}, {"modality", "DX"}}}},
            {"spatial_dims", 2},
            {"patch_size", {size, size}},
            {"normalisation", {{"scheme", "minmax"}}}}},
          {"output",
           {{"activation", "softmax"},
            {"classes", {{{"name", "normal"}}, {{"name", "abnormal"}}}},
            {"decision", {{"positive_class", "abnormal"}, {"threshold", 0.5}}}}},
          {"golden", {{"input_shape", {1, 1, size, size}}}}};
}

// Writes MODULE and MANIFEST as a model package in DIRECTORY and seals it (sha256, golden output).
inline std::filesystem::path WritePackage(const std::filesystem::path& directory, torch::jit::Module module,
                                          const nlohmann::json& manifest) {
  std::filesystem::create_directories(directory);
  module.save((directory / "model.pt").string());
  WriteFileAtomically(directory / "manifest.json", manifest.dump(2));
  inference::SealModel(directory);
  return directory;
}

// The device tests run on: MEDPIPE_TEST_DEVICE (e.g. "cuda" on the GPU host), else the CPU.
inline std::string TestDevice() {
  const char* device = std::getenv("MEDPIPE_TEST_DEVICE");
  return device ? device : "cpu";
}

}  // namespace medpipe::testing
