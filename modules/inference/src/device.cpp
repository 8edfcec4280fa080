#include "medpipe/inference/device.h"

#include <torch/cuda.h>

#include "medpipe/core/error.h"

namespace medpipe::inference {

torch::Device ParseDevice(const std::string& text) {
  const int64_t gpus = static_cast<int64_t>(torch::cuda::device_count());
  if (text == "auto") return gpus > 0 ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (text == "cpu") return torch::kCPU;
  if (text == "cuda" || text.rfind("cuda:", 0) == 0) {
    int64_t index = 0;
    if (text.size() > 5) {
      const std::string number = text.substr(5);
      if (number.empty() || number.size() > 3 || number.find_first_not_of("0123456789") != std::string::npos)
        throw ConfigError("device", "'" + text + "' is not cuda:N with a GPU number N");
      index = std::stoll(number);
    }
    if (index >= gpus)
      throw ConfigError("device", "'" + text + "' asks for GPU " + std::to_string(index) + " but this machine has " +
                                      std::to_string(gpus) +
                                      " usable CUDA GPU(s) for this LibTorch build; ask for auto or cpu, or a GPU it has");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError("device", "'" + text + "' is not one of auto, cpu, cuda, cuda:N");
}

}  // namespace medpipe::inference
