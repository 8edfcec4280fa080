#include "medpipe/inference/model.h"

#include <cmath>
#include <sstream>

#include <ATen/Context.h>
#include <nlohmann/json.hpp>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/inference/cpu_module.h"

namespace medpipe::inference {
namespace {

// Reduced precision may move a probability this much on the golden input before it is refused.
constexpr double kReducedPrecisionTolerance = 0.05;
// The golden output keeps about this many samples.
constexpr int64_t kGoldenSamples = 256;

std::string ShapeText(c10::IntArrayRef shape) {
  std::ostringstream text;
  text << shape;
  return text.str();
}

std::string FirstLine(const std::string& text) { return text.substr(0, text.find('\n')); }

void CheckWeightsDigest(const model::Manifest& manifest) {
  const auto file = manifest.ModelFile();
  if (!std::filesystem::is_regular_file(file)) throw ModelError(file.string(), "is missing");
  const std::string digest = Sha256File(file);
  if (digest != manifest.sha256)
    throw ModelError(file.string(), "has sha256 " + digest + " but the manifest says " + manifest.sha256 +
                                        " (weights changed or manifest stale)");
}

torch::jit::Module LoadTorchScript(const std::filesystem::path& file, torch::Device device) {
  try {
    auto module = torch::jit::load(file.string(), device);
    module.eval();
    return module;
  } catch (const std::exception& e) {
    throw ModelError(file.string(), "is not a loadable TorchScript model: " + FirstLine(e.what()));
  }
}

torch::ScalarType ScalarTypeOf(Precision precision) {
  switch (precision) {
    case Precision::Fp16: return torch::kHalf;
    case Precision::Bf16: return torch::kBFloat16;
    default: return torch::kFloat32;
  }
}

// The golden input's output on the model's current device and precision, as float32 on the CPU.
torch::Tensor RunGolden(LoadedModel& model) {
  const auto& golden = model.Manifest().golden;
  try {
    return model.Forward(GoldenInput(golden.input_shape)).to(torch::kCPU);
  } catch (const std::exception& e) {
    throw ModelError(model.Manifest().ModelFile().string(),
                     "fails on its golden input " + ShapeText(golden.input_shape) + ": " + FirstLine(e.what()));
  }
}

void CheckGolden(const model::Manifest& manifest, const torch::Tensor& output) {
  const auto& golden = manifest.golden;
  const std::string file = manifest.ModelFile().string();
  if (output.sizes() != c10::IntArrayRef(golden.output_shape))
    throw ModelError(file, "golden output has shape " + ShapeText(output.sizes()) + ", manifest says " +
                               ShapeText(golden.output_shape));
  const auto samples = output.flatten().slice(0, 0, output.numel(), golden.stride).to(torch::kDouble);
  const auto expected = torch::tensor(golden.samples, torch::kDouble);
  const double difference = (samples - expected).abs().max().item<double>();
  if (!(difference <= golden.tolerance))
    throw ModelError(file, "output differs from the manifest's golden vector by " + std::to_string(difference) +
                               " (tolerance " + std::to_string(golden.tolerance) + "): wrong or damaged model");
}

}  // namespace

Precision ParsePrecision(const std::string& text) {
  if (text == "fp32") return Precision::Fp32;
  if (text == "fp16") return Precision::Fp16;
  if (text == "bf16") return Precision::Bf16;
  if (text == "auto") return Precision::Auto;
  throw ConfigError("precision", "'" + text + "' is not one of fp32, fp16, bf16, auto");
}

const char* PrecisionName(Precision precision) {
  switch (precision) {
    case Precision::Fp16: return "fp16";
    case Precision::Bf16: return "bf16";
    case Precision::Auto: return "auto";
    default: return "fp32";
  }
}

torch::Tensor GoldenInput(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return torch::arange(count, torch::kDouble).mul(0.37).sin().to(torch::kFloat32).reshape(shape);
}

torch::Tensor Activate(const torch::Tensor& logits, model::Activation activation) {
  return activation == model::Activation::Softmax ? torch::softmax(logits, 1) : torch::sigmoid(logits);
}

LoadedModel::LoadedModel(model::Manifest manifest, torch::jit::Module module, torch::Device device)
    : manifest_(std::move(manifest)), module_(std::move(module)), device_(device) {}

namespace {

// The reduced precisions worth trying for REQUESTED on DEVICE, fastest first; empty with a note
// (NOTE) when there is none.
std::vector<Precision> ReducedCandidates(Precision requested, torch::Device device, std::string& note) {
  const std::string wanted = PrecisionName(requested);
  if (device.is_cuda()) {
    if (requested == Precision::Auto) return {Precision::Fp16, Precision::Bf16};
    return {requested};
  }
  if (requested == Precision::Fp16) {
    note = "fp16 runs on CUDA only; fp32 used on the CPU";
    return {};
  }
  if (!CpuHasNativeBf16()) {
    note = wanted + ": this CPU has no bf16 arithmetic (AVX-512 BF16 or AMX), where bf16 is slower than fp32; fp32 used";
    return {};
  }
  if (requested == Precision::Auto && !CpuHasAmxBf16()) {
    note = "auto: fp32, the fastest on a CPU with AVX-512 BF16 but no AMX (bf16 measured no faster, docs/benchmarks.md)";
    return {};
  }
  return {Precision::Bf16};
}

}  // namespace

LoadedModel LoadedModel::Load(const std::filesystem::path& directory, torch::Device device, Precision precision) {
  auto manifest = model::LoadManifest(directory);
  CheckWeightsDigest(manifest);
  // Patch shapes repeat, so cuDNN's per-shape algorithm search pays for itself.
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
  auto loaded = LoadTorchScript(manifest.ModelFile(), device);
  const bool has_features = loaded.find_method("forward_features").has_value();
  std::optional<torch::jit::Module> saved;
  if (manifest.task == model::Task::Classification || has_features) saved = loaded.clone();
  LoadedModel model(manifest, device.is_cuda() ? loaded : CpuModule(loaded, Precision::Fp32), device);
  model.saved_ = std::move(saved);
  model.has_features_ = has_features;
  const auto reference = RunGolden(model);  // also checks the CPU's rewritten, frozen graph against the sealed output
  CheckGolden(model.manifest_, reference);
  if (precision == Precision::Fp32) return model;

  const auto activation = model.manifest_.activation;
  const auto fp32_module = model.module_;
  std::vector<std::string> notes;
  std::string note;
  for (const Precision candidate : ReducedCandidates(precision, device, note)) {
    const std::string name = PrecisionName(candidate);
    try {
      if (device.is_cuda()) {
        model.module_ = fp32_module.clone();
        model.module_.to(ScalarTypeOf(candidate));
      } else {
        model.module_ = CpuModule(loaded, candidate);
      }
      model.precision_ = candidate;
      const double drift = (Activate(RunGolden(model), activation) - Activate(reference, activation)).abs().max().item<double>();
      if (drift <= kReducedPrecisionTolerance) {
        notes.push_back(name + " probabilities on the golden input within " + std::to_string(drift) + " of fp32");
        model.precision_note_ = c10::Join("; ", notes);
        return model;
      }
      notes.push_back(name + " moved probabilities by " + std::to_string(drift) + " on the golden input");
    } catch (const std::exception& e) {
      notes.push_back(name + " failed on the golden input: " + FirstLine(e.what()));
    }
  }
  model.module_ = fp32_module;
  model.precision_ = Precision::Fp32;
  notes.push_back(note.empty() ? "fp32 used" : note);
  model.precision_note_ = c10::Join("; ", notes);
  return model;
}

torch::Tensor LoadedModel::Forward(const torch::Tensor& batch) {
  c10::InferenceMode inference_mode;
  if (device_.is_cpu()) UseCpuThreads();
  const auto input = batch.to(device_, ScalarTypeOf(precision_));
  return module_.forward({input}).toTensor().to(torch::kFloat32);
}

torch::jit::Module& LoadedModel::Saved() {
  if (!saved_) throw ModelError(manifest_.name, "the saved module is kept for classifiers and models with forward_features only");
  return *saved_;
}

void LoadedModel::MoveTo(torch::Device device, Precision precision) {
  module_.to(device, ScalarTypeOf(precision));
  if (saved_) saved_->to(device);
  device_ = device;
  precision_ = precision;
}

void SealModel(const std::filesystem::path& directory) {
  const auto manifest_path = directory / "manifest.json";
  nlohmann::json manifest;
  try {
    manifest = nlohmann::json::parse(ReadFile(manifest_path));
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(manifest_path.string(), std::string("is not valid JSON: ") + e.what());
  }
  auto& golden = manifest["golden"];
  if (!golden.contains("input_shape")) throw ModelError(manifest_path.string(), "'golden.input_shape' is missing");
  const auto input_shape = golden.at("input_shape").get<std::vector<int64_t>>();

  const auto file = directory / "model.pt";
  if (!std::filesystem::is_regular_file(file)) throw ModelError(file.string(), "is missing");
  auto module = LoadTorchScript(file, torch::kCPU);
  c10::InferenceMode inference_mode;
  const auto output = module.forward({GoldenInput(input_shape)}).toTensor().to(torch::kFloat32).contiguous();
  const int64_t stride = std::max<int64_t>(1, output.numel() / kGoldenSamples);
  const auto samples = output.flatten().slice(0, 0, output.numel(), stride).to(torch::kDouble).contiguous();

  manifest["sha256"] = Sha256File(file);
  golden["output_shape"] = output.sizes().vec();
  golden["stride"] = stride;
  golden["samples"] = std::vector<double>(samples.data_ptr<double>(), samples.data_ptr<double>() + samples.numel());
  if (!golden.contains("tolerance")) golden["tolerance"] = 1e-4;
  const std::string text = manifest.dump(2) + "\n";
  model::ParseManifest(text, directory);  // never seal a manifest that would be refused at load
  WriteFileAtomically(manifest_path, text);
}

}  // namespace medpipe::inference
