#include "medpipe/inference/cpu_module.h"

#include <cpuid.h>

#include <algorithm>
#include <optional>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/csrc/jit/passes/dead_code_elimination.h>
#include <torch/jit.h>

#include "medpipe/core/cores.h"
#include "medpipe/inference/onednn_network.h"
#include "graph_constants.h"

namespace medpipe::inference {
namespace {

using torch::jit::Node;
using torch::jit::Value;

// The 1x1 convolution to O * k voxels' channels, then each input voxel's k outputs spread over its
// block of the output, channel-major as the transposed convolution's weight [I, O, k...] orders them.
constexpr const char* kShuffleSource = R"(
def up2d(x: Tensor, w: Tensor, b: Optional[Tensor], o: int, kh: int, kw: int):
    y = torch.conv2d(x, w, b)
    n = x.size(0)
    h = x.size(2)
    v = x.size(3)
    return y.reshape([n, o, kh, kw, h, v]).permute([0, 1, 4, 2, 5, 3]).reshape([n, o, h * kh, v * kw])

def up3d(x: Tensor, w: Tensor, b: Optional[Tensor], o: int, kd: int, kh: int, kw: int):
    y = torch.conv3d(x, w, b)
    n = x.size(0)
    d = x.size(2)
    h = x.size(3)
    v = x.size(4)
    return y.reshape([n, o, kd, kh, kw, d, h, v]).permute([0, 1, 5, 2, 6, 3, 7, 4]).reshape([n, o, d * kd, h * kh, v * kw])
)";

// The replacement's weight and bias when NODE is a transposed convolution it applies to.
struct Replacement {
  torch::Tensor weight;
  std::optional<torch::Tensor> bias;
  std::vector<int64_t> kernel;
  int64_t out_channels = 0;
};

std::optional<Replacement> ReplacementFor(Node* node) {
  const auto kind = node->kind();
  if (kind == c10::aten::_convolution) {
    const auto transposed = torch::jit::toIValue(node->namedInput("transposed"));
    if (!transposed || !transposed->isBool() || !transposed->toBool()) return std::nullopt;
  } else if (kind != c10::aten::conv_transpose2d && kind != c10::aten::conv_transpose3d) {
    return std::nullopt;
  }
  const auto weight = torch::jit::toIValue(node->namedInput("weight"));
  const auto bias = torch::jit::toIValue(node->namedInput("bias"));
  const auto groups = torch::jit::toIValue(node->namedInput("groups"));
  if (!weight || !weight->isTensor() || !bias || !(bias->isTensor() || bias->isNone()) || !groups ||
      !groups->isInt() || groups->toInt() != 1)
    return std::nullopt;
  const torch::Tensor w = weight->toTensor();
  const auto spatial = static_cast<size_t>(w.dim() - 2);
  if (spatial != 2 && spatial != 3) return std::nullopt;
  const std::vector<int64_t> kernel(w.sizes().begin() + 2, w.sizes().end());
  if (Expanded(ConstantInts(node->namedInput("stride")), spatial) != kernel ||
      !AllEqual(ConstantInts(node->namedInput("padding")), 0, spatial) ||
      !AllEqual(ConstantInts(node->namedInput("output_padding")), 0, spatial) ||
      !AllEqual(ConstantInts(node->namedInput("dilation")), 1, spatial))
    return std::nullopt;
  Replacement replacement;
  replacement.kernel = kernel;
  replacement.out_channels = w.size(1);
  const int64_t voxels = w[0][0].numel();
  std::vector<int64_t> order{1};  // [I, O, k...] -> [O, k..., I]
  for (size_t i = 0; i < spatial; ++i) order.push_back(static_cast<int64_t>(i) + 2);
  order.push_back(0);
  std::vector<int64_t> shape{w.size(1) * voxels, w.size(0)};
  shape.resize(2 + spatial, 1);
  replacement.weight = w.permute(order).reshape(shape).contiguous();
  if (bias->isTensor()) replacement.bias = bias->toTensor().repeat_interleave(voxels).contiguous();
  return replacement;
}

std::shared_ptr<torch::jit::CompilationUnit> ShuffleFunctions() {
  static const auto unit = torch::jit::compile(kShuffleSource);
  return unit;
}

}  // namespace

bool CpuHasAmxBf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && ((edx >> 22) & 1u);
}

bool CpuHasNativeBf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  const unsigned max_subleaf = eax;
  const bool avx512_bf16 = max_subleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && ((eax >> 5) & 1u);
  return avx512_bf16 || CpuHasAmxBf16();
}

int ReplaceStridedTransposedConvolutions(torch::jit::Graph& graph) {
  std::vector<Node*> candidates;
  for (Node* node : graph.nodes())  // top-level nodes: a frozen module's forward is inlined
    candidates.push_back(node);
  int replaced = 0;
  const auto unit = ShuffleFunctions();
  for (Node* node : candidates) {
    const auto replacement = ReplacementFor(node);
    if (!replacement) continue;
    const bool three_d = replacement->kernel.size() == 3;
    auto& function = torch::jit::toGraphFunction(unit->get_function(three_d ? "up3d" : "up2d"));
    torch::jit::WithInsertPoint guard(node);
    std::vector<Value*> inputs{node->namedInput("input"), graph.insertConstant(replacement->weight),
                               replacement->bias ? graph.insertConstant(*replacement->bias) : graph.insertConstant(c10::IValue()),
                               graph.insertConstant(replacement->out_channels)};
    for (int64_t k : replacement->kernel) inputs.push_back(graph.insertConstant(k));
    const auto outputs = torch::jit::insertGraph(graph, *function.graph(), inputs);
    node->output()->replaceAllUsesWith(outputs.at(0));
    node->destroy();
    ++replaced;
  }
  if (replaced) torch::jit::EliminateDeadCode(graph.block());
  return replaced;
}

torch::jit::Module CpuModule(const torch::jit::Module& saved, Precision precision, const std::string& method) {
  try {
    torch::jit::Module module = saved.clone();
    module.eval();
    if (precision == Precision::Bf16) module.to(torch::kBFloat16);
    const std::vector<std::string> other_methods = method == "forward" ? std::vector<std::string>{} : std::vector<std::string>{method};
    auto frozen = torch::jit::freeze(module, other_methods);
    if (precision == Precision::Fp32 && RunMethodWithOnednn(frozen, method)) return frozen;
    ReplaceStridedTransposedConvolutions(*frozen.get_method(method).graph());
    // bf16 graphs stay on LibTorch's convolutions, which call oneDNN for bf16 themselves.
    return precision == Precision::Bf16 ? frozen : torch::jit::optimize_for_inference(frozen, other_methods);
  } catch (const std::exception&) {
    if (precision != Precision::Fp32) throw;
    return saved;
  }
}

void UseCpuThreads() {
  const int threads = static_cast<int>(UsableCores());
  if (at::get_num_threads() != threads) at::set_num_threads(threads);
}

}  // namespace medpipe::inference
