#pragma once
// Runs a loaded model over a preprocessed image: sliding window for segmentation, the whole image
// for classification; optional mirroring test-time augmentation; smaller batches, then the CPU,
// when the GPU runs out of memory.
#include <string>
#include <vector>

#include <torch/types.h>

#include "medpipe/inference/model.h"

namespace medpipe::inference {

struct PredictOptions {
  double overlap = 0.5;    // fraction of a patch shared with its neighbour
  int64_t batch_size = 2;  // patches per forward pass
  bool mirror = false;     // average over flips of the manifest's mirror_axes
};

// Throws ConfigError naming the option (--overlap, --batch-size) that is out of range.
void CheckPredictOptions(const PredictOptions& options);

// What happened, for result.json.
struct PredictReport {
  std::string device;
  std::string precision;
  int64_t batch_size = 0;  // the batch size that finally ran
  int64_t patches = 0;
  std::vector<std::string> fallbacks;
  double milliseconds = 0;
};

// Weighted sliding-window logits [K, Z, Y, X] on the CPU for IMAGE [C, Z, Y, X], which must be at
// least the patch size along each axis (preprocess pads it).
torch::Tensor SlidingWindowLogits(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                                  PredictReport& report);

// Probabilities on the CPU: [K, Z, Y, X] for segmentation (sliding window), [K] for classification
// (IMAGE already resized to the model's input size).
torch::Tensor Predict(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                      PredictReport& report);

}  // namespace medpipe::inference
