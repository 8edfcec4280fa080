#pragma once
// Runs a loaded model over a preprocessed image: sliding window for segmentation, the whole image
// for classification; optional mirroring test-time augmentation; smaller batches, then the CPU,
// when the GPU runs out of memory.
#include <string>
#include <vector>

#include <torch/types.h>

#include "medpipe/inference/model.h"

namespace medpipe::inference {

// What happened, for result.json.
struct PredictReport {
  std::string device;
  std::string precision;
  int64_t batch_size = 0;  // the batch size that finally ran
  int64_t patches = 0;
  std::vector<std::string> fallbacks;
  // Wall-clock milliseconds of the steps, the device synchronised at each boundary (the last
  // attempt's when a memory fallback retried): input to the device, forward passes, and stitching
  // (weighted accumulation, normalisation, activation, result back to the CPU).
  double h2d_ms = 0, infer_ms = 0, stitch_ms = 0;
};

// Weighted sliding-window logits [K, Z, Y, X] on the model's device for IMAGE [C, Z, Y, X], which
// must be at least the patch size along each axis (preprocess pads it).
torch::Tensor SlidingWindowLogits(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                                  PredictReport& report);

// The label map (uint8 [Z, Y, X], same device) of segmentation LOGITS [K, Z, Y, X], decided where
// the logits are, so no per-class map leaves the device. Softmax: the argmax, channel c being label c
// (ties to the lowest). Sigmoid: channel i is LABELS[i]; the most probable label above 0.5, else 0.
torch::Tensor LabelMap(const torch::Tensor& logits, model::Activation activation, const std::vector<model::Label>& labels);

// On the CPU: for segmentation the label map at model resolution (sliding window, then LabelMap);
// for classification the probabilities [K] (IMAGE already resized to the model's input size).
torch::Tensor Predict(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                      PredictReport& report);

}  // namespace medpipe::inference
