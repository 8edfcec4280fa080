#include "graph_constants.h"

#include <algorithm>

namespace medpipe::inference {

std::optional<std::vector<int64_t>> ConstantInts(torch::jit::Value* value) {
  if (auto constant = torch::jit::toIValue(value)) {
    if (constant->isIntList()) return constant->toIntVector();
    return std::nullopt;
  }
  if (value->node()->kind() != c10::prim::ListConstruct) return std::nullopt;
  std::vector<int64_t> ints;
  for (torch::jit::Value* element : value->node()->inputs()) {
    const auto constant = torch::jit::toIValue(element);
    if (!constant || !constant->isInt()) return std::nullopt;
    ints.push_back(constant->toInt());
  }
  return ints;
}

std::optional<std::vector<int64_t>> Expanded(const std::optional<std::vector<int64_t>>& values, size_t count) {
  if (!values) return std::nullopt;
  if (values->size() == 1) return std::vector<int64_t>(count, values->front());
  if (values->size() != count) return std::nullopt;
  return values;
}

bool AllEqual(const std::optional<std::vector<int64_t>>& values, int64_t expected, size_t count) {
  const auto expanded = Expanded(values, count);
  return expanded && std::all_of(expanded->begin(), expanded->end(), [&](int64_t v) { return v == expected; });
}

}  // namespace medpipe::inference
