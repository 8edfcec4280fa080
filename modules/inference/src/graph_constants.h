#pragma once
// Reading a frozen TorchScript graph's constant arguments (convolution strides, paddings, ...).
#include <cstdint>
#include <optional>
#include <vector>

#include <torch/csrc/jit/ir/ir.h>

namespace medpipe::inference {

// VALUE's integers when it is a constant int list or a list built from constant ints.
std::optional<std::vector<int64_t>> ConstantInts(torch::jit::Value* value);

// VALUES as COUNT entries (a single entry stands for all), or nothing when it is not a constant list.
std::optional<std::vector<int64_t>> Expanded(const std::optional<std::vector<int64_t>>& values, size_t count);

bool AllEqual(const std::optional<std::vector<int64_t>>& values, int64_t expected, size_t count);

}  // namespace medpipe::inference
