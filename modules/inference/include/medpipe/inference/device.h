#pragma once
#include <string>

#include <torch/types.h>

namespace medpipe::inference {

// "auto" (the first GPU when there is one, else the CPU), "cpu", "cuda" or "cuda:N". Throws ConfigError
// ("device") for other text, and for a GPU that this machine does not have.
torch::Device ParseDevice(const std::string& text);

}  // namespace medpipe::inference
