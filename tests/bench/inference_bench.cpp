// Times medpipe's sliding-window inference of a model package on a CT-sized volume, per precision,
// from a CPU volume to CPU logits (as `medpipe run` does). One JSON line per precision, in the
// format of scripts/bench/bench_torch.py so the two sit side by side in scripts/bench_inference.sh.
#include <algorithm>
#include <chrono>
#include <iostream>

#include <ATen/Parallel.h>
#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#ifdef MEDPIPE_HAS_CUDA_STATS  // set by CMake when LibTorch was built with CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "medpipe/inference/device.h"
#include "medpipe/inference/predictor.h"

namespace po = boost::program_options;
using namespace medpipe::inference;

namespace {

void ResetPeak(torch::Device device) {
#ifdef MEDPIPE_HAS_CUDA_STATS
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  (void)device;
}

double PeakGib(torch::Device device) {
#ifdef MEDPIPE_HAS_CUDA_STATS
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1 << 30);  // 0: aggregate over pools
  }
#endif
  (void)device;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description options("inference_bench options");
  options.add_options()
      ("model", po::value<std::string>()->required(), "model package folder")
      ("size", po::value<std::vector<int64_t>>()->multitoken()->default_value({512, 512, 300}, "512 512 300"), "volume x y z")
      ("batch-size", po::value<int64_t>()->default_value(2), "patches per forward pass")
      ("overlap", po::value<double>()->default_value(0.5), "sliding-window overlap")
      ("repeats", po::value<int>()->default_value(3), "timed runs per precision (after one warm-up)")
      ("device", po::value<std::string>()->default_value("auto"), "auto, cpu, cuda[:N]")
      ("precisions", po::value<std::vector<std::string>>()->multitoken()->default_value({"fp32", "bf16", "fp16"}, "fp32 bf16 fp16"), "");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, options), vm);
  po::notify(vm);
  const auto size = vm["size"].as<std::vector<int64_t>>();
  const torch::Device device = ParseDevice(vm["device"].as<std::string>());
  PredictOptions predict;
  predict.batch_size = vm["batch-size"].as<int64_t>();
  predict.overlap = vm["overlap"].as<double>();

  const auto volume = torch::randn({1, size[2], size[1], size[0]}, torch::TensorOptions().dtype(torch::kFloat32));
  torch::Tensor reference;
  for (const auto& name : vm["precisions"].as<std::vector<std::string>>()) {
    auto model = LoadedModel::Load(vm["model"].as<std::string>(), device, ParsePrecision(name));
    if (PrecisionName(model.ActivePrecision()) != name) {
      std::cout << nlohmann::json({{"impl", "medpipe"}, {"dtype", name}, {"error", model.PrecisionNote()}}) << std::endl;
      continue;
    }
    PredictReport report;
    // Logits back on the CPU, as the PyTorch side returns them. The first call warms up (cuDNN search, JIT profiling).
    torch::Tensor logits = SlidingWindowLogits(model, volume, predict, report).to(torch::kCPU);
    ResetPeak(device);
    std::vector<double> times;
    for (int i = 0; i < vm["repeats"].as<int>(); ++i) {
      const auto started = std::chrono::steady_clock::now();
      logits = SlidingWindowLogits(model, volume, predict, report).to(torch::kCPU);
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
    }
    std::sort(times.begin(), times.end());
    nlohmann::json line = {{"impl", "medpipe"},
                           {"dtype", name},
                           {"ms_per_volume", times[times.size() / 2]},
                           {"peak_gib", PeakGib(device)},
                           {"patches", report.patches},
                           {"batch_size", report.batch_size},
                           {"device", report.device},
                           {"threads", at::get_num_threads()},
                           {"precision_note", model.PrecisionNote()},
                           {"fallbacks", report.fallbacks}};
    const auto probabilities = torch::softmax(logits, 0);
    if (!reference.defined()) {
      reference = probabilities;
    } else {
      line["max_prob_diff_vs_fp32"] = (probabilities - reference).abs().max().item<double>();
      line["argmax_mismatch"] = (probabilities.argmax(0) != reference.argmax(0)).to(torch::kDouble).mean().item<double>();
    }
    std::cout << line << std::endl;
  }
  return 0;
}
