#pragma once
#include <string>

#include <torch/types.h>

namespace medpipe::inference {

// --device: "auto" (the first GPU when there is one, else the CPU), "cpu", "cuda" or "cuda:N".
// Throws ConfigError for other text, and for a GPU that this machine does not have.
torch::Device ParseDevice(const std::string& text);

}  // namespace medpipe::inference
