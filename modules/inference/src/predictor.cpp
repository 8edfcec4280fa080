#include "medpipe/inference/predictor.h"

#include <torch/cuda.h>

#include "medpipe/core/error.h"
#include "medpipe/core/stopwatch.h"
#include "medpipe/inference/sliding_window.h"

namespace medpipe::inference {
namespace {

// Times steps on DEVICE: each Lap() waits for the device's queued work, then returns the
// milliseconds since the previous lap.
class DeviceClock {
 public:
  explicit DeviceClock(torch::Device device) : device_(device) {}
  double Lap() {
    if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
    return stopwatch_.Lap();
  }

 private:
  torch::Device device_;
  Stopwatch stopwatch_;
};

// LibTorch reports CUDA out-of-memory as c10::OutOfMemoryError (2.x) or c10::Error (1.13); both say this.
bool IsOutOfMemory(const std::exception& error) {
  return std::string(error.what()).find("out of memory") != std::string::npos;
}

// BATCH is [B, C, Z, Y, X]; a 2-D model sees [B, C, Y, X] (its patches have Z = 1), and its
// segmentation output gets the Z axis back.
torch::Tensor RunNetwork(LoadedModel& model, const torch::Tensor& batch) {
  const auto& manifest = model.Manifest();
  if (manifest.spatial_dims == 3) return model.Forward(batch);
  const auto output = model.Forward(batch.squeeze(2));
  return manifest.task == model::Task::Segmentation ? output.unsqueeze(2) : output;
}

// The mean output over every combination of flips along the mirror axes (x = tensor dim 4, z = 2);
// segmentation outputs are flipped back, class scores need not be.
torch::Tensor RunMirrored(LoadedModel& model, const torch::Tensor& batch, bool mirror) {
  c10::InferenceMode inference_mode;
  auto sum = RunNetwork(model, batch);
  const auto& axes = model.Manifest().mirror_axes;
  if (!mirror || axes.empty()) return sum;
  const bool spatial_output = model.Manifest().task == model::Task::Segmentation;
  const int combinations = 1 << axes.size();
  for (int mask = 1; mask < combinations; ++mask) {
    std::vector<int64_t> dims;
    for (size_t i = 0; i < axes.size(); ++i)
      if (mask & (1 << i)) dims.push_back(4 - axes[i]);
    const auto output = RunNetwork(model, batch.flip(dims));
    sum += spatial_output ? output.flip(dims) : output;
  }
  return sum / combinations;
}

torch::Tensor SlidingWindowPass(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                                int64_t batch_size, PredictReport& report) {
  c10::InferenceMode inference_mode;
  const auto& patch_xyz = model.Manifest().patch_size;
  const std::array<int64_t, 3> patch{patch_xyz[2], patch_xyz[1], patch_xyz[0]};
  const torch::Device device = model.Device();
  DeviceClock clock(device);
  report.h2d_ms = report.infer_ms = report.stitch_ms = 0;
  const auto input = image.to(device);
  std::vector<std::array<int64_t, 3>> starts;
  for (int64_t z : WindowStarts(image.size(1), patch[0], options.overlap))
    for (int64_t y : WindowStarts(image.size(2), patch[1], options.overlap))
      for (int64_t x : WindowStarts(image.size(3), patch[2], options.overlap)) starts.push_back({z, y, x});
  report.patches = static_cast<int64_t>(starts.size());

  const auto importance = GaussianImportance(patch).to(device);
  const auto options_float = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  auto logits = torch::zeros({model.Manifest().OutputChannels(), image.size(1), image.size(2), image.size(3)}, options_float);
  auto weights = torch::zeros({image.size(1), image.size(2), image.size(3)}, options_float);
  report.h2d_ms = clock.Lap();
  const auto window = [&](const torch::Tensor& tensor, const std::array<int64_t, 3>& start) {
    const int64_t first_spatial = tensor.dim() - 3;
    return tensor.narrow(first_spatial, start[0], patch[0])
        .narrow(first_spatial + 1, start[1], patch[1])
        .narrow(first_spatial + 2, start[2], patch[2]);
  };
  for (size_t first = 0; first < starts.size(); first += batch_size) {
    const size_t last = std::min(starts.size(), first + batch_size);
    std::vector<torch::Tensor> crops;
    for (size_t i = first; i < last; ++i) crops.push_back(window(input, starts[i]));
    const auto output = RunMirrored(model, torch::stack(crops), options.mirror);
    report.infer_ms += clock.Lap();
    for (size_t i = first; i < last; ++i) {
      window(logits, starts[i]).add_(output[static_cast<int64_t>(i - first)] * importance);
      window(weights, starts[i]).add_(importance);
    }
    report.stitch_ms += clock.Lap();
  }
  return logits / weights;
}

// Runs ATTEMPT(batch_size), halving the batch and then moving to the CPU while the GPU is out of memory.
template <typename Attempt>
torch::Tensor WithMemoryFallback(LoadedModel& model, int64_t batch_size, PredictReport& report, Attempt attempt) {
  const torch::Device device = model.Device();
  const Precision precision = model.ActivePrecision();
  for (;;) {
    try {
      report.batch_size = batch_size;
      report.device = model.Device().str();
      report.precision = PrecisionName(model.ActivePrecision());
      auto result = attempt(batch_size);
      model.MoveTo(device, precision);
      return result;
    } catch (const std::exception& error) {
      if (!IsOutOfMemory(error)) {
        model.MoveTo(device, precision);
        throw;
      }
      const std::string where = "out of memory on " + model.Device().str() + " at batch size " + std::to_string(batch_size);
      if (batch_size > 1) {
        batch_size /= 2;
        report.fallbacks.push_back(where + "; retried with batch size " + std::to_string(batch_size));
      } else if (model.Device().is_cuda()) {
        model.MoveTo(torch::kCPU, Precision::Fp32);
        report.fallbacks.push_back(where + "; retried on the CPU in fp32");
      } else {
        model.MoveTo(device, precision);
        throw;
      }
    }
  }
}

void CheckChannels(const model::Manifest& manifest, const torch::Tensor& image) {
  if (image.dim() != 4 || image.size(0) != static_cast<int64_t>(manifest.channels.size()))
    throw ModelError(manifest.name, "expects " + std::to_string(manifest.channels.size()) +
                                        " input channel(s), got an image of shape " + c10::str(image.sizes()));
}

}  // namespace

void CheckPredictOptions(const PredictOptions& options) {
  if (!(options.overlap >= 0 && options.overlap < 1))
    throw ConfigError("overlap", "is " + c10::str(options.overlap) +
                                     "; expected at least 0 and below 1 (the fraction of a patch its neighbour shares)");
  if (options.batch_size < 1)
    throw ConfigError("batch_size",
                      "is " + std::to_string(options.batch_size) + "; expected at least 1 (patches per forward pass)");
}

torch::Tensor SlidingWindowLogits(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                                  PredictReport& report) {
  const auto& manifest = model.Manifest();
  CheckChannels(manifest, image);
  for (int axis = 0; axis < 3; ++axis)
    if (image.size(3 - axis) < manifest.patch_size[axis])
      throw InternalError(manifest.name, "image is smaller than the patch; preprocess must pad it");
  CheckPredictOptions(options);
  return WithMemoryFallback(model, options.batch_size, report, [&](int64_t batch_size) {
    return SlidingWindowPass(model, image, options, batch_size, report);
  });
}

torch::Tensor LabelMap(const torch::Tensor& logits, model::Activation activation, const std::vector<model::Label>& labels) {
  c10::InferenceMode inference_mode;
  const int64_t channels = logits.size(0);
  if (activation == model::Activation::Softmax) {
    if (channels > 256) throw ModelError("model output", std::to_string(channels) + " softmax channels; label images hold at most 256");
    return logits.argmax(0).to(torch::kUInt8);
  }
  if (channels != static_cast<int64_t>(labels.size()))
    throw ModelError("model output", std::to_string(channels) + " sigmoid channels for " + std::to_string(labels.size()) +
                                         " labels; expected one channel per label");
  std::vector<uint8_t> values;
  for (const auto& label : labels) values.push_back(static_cast<uint8_t>(label.value));  // the manifest keeps them in 1..255
  const auto value_of_channel = torch::tensor(values).to(logits.device());
  const auto [best, channel] = logits.max(0);
  // A probability above 0.5 is a logit above 0.
  return torch::where(best > 0, value_of_channel.index({channel}), torch::zeros_like(channel, torch::kUInt8));
}

torch::Tensor Predict(LoadedModel& model, const torch::Tensor& image, const PredictOptions& options,
                      PredictReport& report) {
  const auto& manifest = model.Manifest();
  torch::Tensor output;
  if (manifest.task == model::Task::Segmentation) {
    const auto logits = SlidingWindowLogits(model, image, options, report);
    DeviceClock clock(logits.device());
    output = LabelMap(logits, manifest.activation, manifest.labels).to(torch::kCPU);
    report.stitch_ms += clock.Lap();
  } else {
    CheckChannels(manifest, image);
    report.patches = 1;
    DeviceClock clock(model.Device());
    const auto logits = WithMemoryFallback(model, 1, report, [&](int64_t) {
      return RunMirrored(model, image.unsqueeze(0), options.mirror).to(torch::kCPU);
    });
    report.infer_ms = clock.Lap();
    output = Activate(logits, manifest.activation)[0];
  }
  return output;
}

}  // namespace medpipe::inference
