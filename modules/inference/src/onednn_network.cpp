#include "medpipe/inference/onednn_network.h"

#if MEDPIPE_ONEDNN_NETWORK

#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <tuple>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <ATen/Parallel.h>
#include <oneapi/dnnl/dnnl.hpp>
#include <torch/csrc/jit/ir/ir.h>
#include <torch/custom_class.h>
#include <torch/library.h>

#include "graph_constants.h"

namespace medpipe::inference {
namespace {

using dnnl::memory;
using torch::jit::Node;
using torch::jit::Value;
using Dims = memory::dims;

struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- The program: what the graph computes, whatever the input's shape. Value 0 is the input.

struct Convolution {
  int input = 0, output = 0;
  torch::Tensor weight;  // LibTorch's layout: [out, in, k...], transposed [in, out, k...]
  std::optional<torch::Tensor> bias;
  Dims stride, padding, dilation;
  bool transposed = false;
};
// Instance norm over the input's own statistics, then a (leaky) ReLU when the graph applies one next.
struct Normalisation {
  int input = 0, output = 0;
  std::optional<torch::Tensor> scale, shift;  // none: 1 and 0 (no affine parameters)
  float epsilon = 0;
  std::optional<float> slope;
};
struct Activation {  // a (leaky) ReLU on its own; slope 0 is ReLU
  int input = 0, output = 0;
  float slope = 0;
};
struct Concatenation {  // along the channels
  std::vector<int> inputs;
  int output = 0;
};
using Operation = std::variant<Convolution, Normalisation, Activation, Concatenation>;

struct Program {
  size_t spatial_rank = 0;
  int values = 1;
  std::vector<Operation> operations;
  std::vector<int> outputs;  // one, or several stacked along a new first dimension
  bool stacked = false;
};

bool CarriesTensors(const Value* value) {
  const auto& type = value->type();
  if (type->kind() == c10::TypeKind::TensorType) return true;
  if (const auto list = type->cast<c10::ListType>()) return list->getElementType()->kind() == c10::TypeKind::TensorType;
  if (const auto optional = type->cast<c10::OptionalType>()) return optional->getElementType()->kind() == c10::TypeKind::TensorType;
  return false;
}

// Nodes scripting leaves around the operators, computing on sizes only (F.instance_norm's "more than one
// spatial element" check); Plan repeats that check itself.
bool IsShapeCheck(const Node* node) {
  static const std::set<c10::Symbol> kinds{
      c10::aten::size, c10::aten::len,    c10::aten::__range_length, c10::aten::__derive_index, c10::aten::__getitem__,
      c10::aten::eq,   c10::aten::ne,     c10::aten::mul,            c10::aten::format,         c10::aten::dim,
      c10::prim::If,   c10::prim::Loop,   c10::prim::RaiseException, c10::prim::Constant,       c10::prim::ListConstruct};
  if (!kinds.count(node->kind())) return false;
  for (const Value* output : node->outputs())
    if (CarriesTensors(output)) return false;
  for (const auto* block : node->blocks())
    for (const Node* inner : block->nodes())
      if (!IsShapeCheck(inner)) return false;
  return true;
}

torch::Tensor ConstantTensor(Value* value, const char* what) {
  const auto constant = torch::jit::toIValue(value);
  if (!constant || !constant->isTensor()) throw Unsupported(std::string(what) + " is not a constant tensor");
  const torch::Tensor tensor = constant->toTensor();
  if (tensor.scalar_type() != torch::kFloat32 || !tensor.device().is_cpu())
    throw Unsupported(std::string(what) + " is not float32 on the CPU");
  return tensor.contiguous();
}

std::optional<torch::Tensor> OptionalConstantTensor(Value* value, const char* what) {
  const auto constant = torch::jit::toIValue(value);
  if (constant && constant->isNone()) return std::nullopt;
  return ConstantTensor(value, what);
}

double ConstantDouble(Value* value, const char* what) {
  const auto constant = torch::jit::toIValue(value);
  if (!constant || !(constant->isDouble() || constant->isInt())) throw Unsupported(std::string(what) + " is not a constant number");
  return constant->isDouble() ? constant->toDouble() : static_cast<double>(constant->toInt());
}

int64_t ConstantInt(Value* value, const char* what) {
  const auto constant = torch::jit::toIValue(value);
  if (!constant || !constant->isInt()) throw Unsupported(std::string(what) + " is not a constant integer");
  return constant->toInt();
}

class ProgramBuilder {
 public:
  Program Build(torch::jit::Graph& graph) {
    if (graph.inputs().size() != 2 || graph.inputs()[1]->type()->kind() != c10::TypeKind::TensorType)
      throw Unsupported("the method does not take one tensor");
    tensors_[graph.inputs()[1]] = 0;
    for (Node* node : graph.nodes()) Add(node);
    if (graph.outputs().size() != 1) throw Unsupported("the method does not return one tensor");
    Value* result = graph.outputs()[0];
    if (result == stacked_) {
      program_.stacked = true;
    } else {
      program_.outputs = {Tensor(result)};
    }
    if (program_.spatial_rank == 0) throw Unsupported("no convolution");
    return std::move(program_);
  }

 private:
  int Tensor(Value* value) const {
    const auto found = tensors_.find(value);
    if (found == tensors_.end()) throw Unsupported("%" + value->debugName() + " is not a tensor this network computes");
    return found->second;
  }
  int NewValue(Value* value) { return tensors_[value] = program_.values++; }

  void Add(Node* node) {
    const auto kind = node->kind();
    if (kind == c10::prim::Constant) return;
    if (kind == c10::aten::conv2d || kind == c10::aten::conv3d || kind == c10::aten::conv_transpose2d ||
        kind == c10::aten::conv_transpose3d || kind == c10::aten::_convolution)
      return AddConvolution(node);
    if (kind == c10::aten::instance_norm) return AddNormalisation(node);
    if (kind == c10::aten::leaky_relu || kind == c10::aten::leaky_relu_ || kind == c10::aten::relu || kind == c10::aten::relu_)
      return AddActivation(node);
    if (kind == c10::aten::cat) return AddConcatenation(node);
    if (kind == c10::aten::stack) return AddStack(node);
    if (kind == c10::prim::ListConstruct && CarriesTensors(node->output())) {
      auto list = std::make_shared<std::vector<int>>();
      for (Value* element : node->inputs()) list->push_back(Tensor(element));
      lists_[node->output()] = list;
      return;
    }
    if (kind == c10::aten::append && CarriesTensors(node->output())) {
      const auto list = List(node->input(0));
      list->push_back(Tensor(node->input(1)));
      lists_[node->output()] = list;  // append returns the list it changed
      return;
    }
    if (kind == c10::aten::__getitem__ && CarriesTensors(node->output())) {
      const auto list = List(node->input(0));
      int64_t index = ConstantInt(node->input(1), "a list index");
      if (index < 0) index += static_cast<int64_t>(list->size());
      if (index < 0 || index >= static_cast<int64_t>(list->size())) throw Unsupported("a list index out of range");
      tensors_[node->output()] = (*list)[static_cast<size_t>(index)];
      return;
    }
    if (IsShapeCheck(node)) return;
    throw Unsupported("operator " + std::string(kind.toQualString()));
  }

  std::shared_ptr<std::vector<int>> List(Value* value) const {
    const auto found = lists_.find(value);
    if (found == lists_.end()) throw Unsupported("%" + value->debugName() + " is not a list of tensors");
    return found->second;
  }

  void AddConvolution(Node* node) {
    Convolution convolution;
    convolution.input = Tensor(node->namedInput("input"));
    convolution.weight = ConstantTensor(node->namedInput("weight"), "a convolution's weight");
    convolution.bias = OptionalConstantTensor(node->namedInput("bias"), "a convolution's bias");
    const auto kind = node->kind();
    convolution.transposed = kind == c10::aten::conv_transpose2d || kind == c10::aten::conv_transpose3d;
    if (kind == c10::aten::_convolution) {
      const auto transposed = torch::jit::toIValue(node->namedInput("transposed"));
      if (!transposed || !transposed->isBool()) throw Unsupported("_convolution's transposed is not constant");
      convolution.transposed = transposed->toBool();
    }
    const size_t rank = static_cast<size_t>(convolution.weight.dim()) - 2;
    if (rank != 2 && rank != 3) throw Unsupported("a convolution that is neither 2-D nor 3-D");
    if (program_.spatial_rank != 0 && program_.spatial_rank != rank) throw Unsupported("2-D and 3-D convolutions mixed");
    program_.spatial_rank = rank;
    if (ConstantInt(node->namedInput("groups"), "groups") != 1) throw Unsupported("a grouped convolution");
    if (convolution.transposed && !AllEqual(ConstantInts(node->namedInput("output_padding")), 0, rank))
      throw Unsupported("a transposed convolution's output padding");
    const auto stride = Expanded(ConstantInts(node->namedInput("stride")), rank);
    const auto padding = Expanded(ConstantInts(node->namedInput("padding")), rank);
    const auto dilation = Expanded(ConstantInts(node->namedInput("dilation")), rank);
    if (!stride || !padding || !dilation) throw Unsupported("a convolution's stride, padding or dilation is not constant");
    convolution.stride = *stride;
    convolution.padding = *padding;
    for (int64_t d : *dilation) convolution.dilation.push_back(d - 1);  // oneDNN counts the gaps
    convolution.output = NewValue(node->output());
    program_.operations.emplace_back(std::move(convolution));
  }

  void AddNormalisation(Node* node) {
    const auto use_input_stats = torch::jit::toIValue(node->namedInput("use_input_stats"));
    if (!use_input_stats || !use_input_stats->isBool() || !use_input_stats->toBool() ||
        !torch::jit::toIValue(node->namedInput("running_mean")).value_or(c10::IValue(1)).isNone() ||
        !torch::jit::toIValue(node->namedInput("running_var")).value_or(c10::IValue(1)).isNone())
      throw Unsupported("an instance norm with running statistics");
    Normalisation normalisation;
    normalisation.input = Tensor(node->namedInput("input"));
    normalisation.scale = OptionalConstantTensor(node->namedInput("weight"), "an instance norm's weight");
    normalisation.shift = OptionalConstantTensor(node->namedInput("bias"), "an instance norm's bias");
    normalisation.epsilon = static_cast<float>(ConstantDouble(node->namedInput("eps"), "an instance norm's eps"));
    normalisation.output = NewValue(node->output());
    program_.operations.emplace_back(std::move(normalisation));
  }

  void AddActivation(Node* node) {
    const bool leaky = node->kind() == c10::aten::leaky_relu || node->kind() == c10::aten::leaky_relu_;
    const float slope = leaky ? static_cast<float>(ConstantDouble(node->input(1), "a leaky ReLU's slope")) : 0.0f;
    const int input = Tensor(node->input(0));
    const bool in_place = node->kind() == c10::aten::leaky_relu_ || node->kind() == c10::aten::relu_;
    // Fused into the norm that computed the input when nothing else reads it (an in-place ReLU changes
    // the tensor every other reader sees, so that case is left to LibTorch).
    if (node->input(0)->uses().size() != 1) {
      if (in_place) throw Unsupported("an in-place activation of a tensor read elsewhere");
    } else if (!program_.operations.empty()) {
      if (auto* normalisation = std::get_if<Normalisation>(&program_.operations.back());
          normalisation && normalisation->output == input && !normalisation->slope) {
        normalisation->slope = slope;
        tensors_[node->output()] = input;
        return;
      }
    }
    program_.operations.emplace_back(Activation{input, NewValue(node->output()), slope});
  }

  void AddConcatenation(Node* node) {
    if (ConstantInt(node->namedInput("dim"), "cat's dimension") != 1) throw Unsupported("cat along another dimension than 1");
    Concatenation concatenation{*List(node->namedInput("tensors")), 0};
    concatenation.output = NewValue(node->output());
    program_.operations.emplace_back(std::move(concatenation));
  }

  // Only as the result (an ensemble's per-fold logits): the outputs are written into one tensor.
  void AddStack(Node* node) {
    if (ConstantInt(node->namedInput("dim"), "stack's dimension") != 0) throw Unsupported("stack along another dimension than 0");
    program_.outputs = *List(node->namedInput("tensors"));
    stacked_ = node->output();
  }

  Program program_;
  std::unordered_map<Value*, int> tensors_;
  std::unordered_map<Value*, std::shared_ptr<std::vector<int>>> lists_;
  Value* stacked_ = nullptr;
};

// ---- The plan: the program's oneDNN primitives for one input shape, their memory reused once read.

memory::format_tag PlainTag(size_t rank) { return rank == 3 ? memory::format_tag::ncdhw : memory::format_tag::nchw; }

// Every activation is channels last: oneDNN 2.6's AVX-512 convolutions chose it themselves (brgconv), its
// transposed convolutions and norms take it, and each channel's statistics then vectorise over channels.
memory::desc ChannelsLast(const Dims& dims) {
  return memory::desc(dims, memory::data_type::f32, dims.size() == 5 ? memory::format_tag::ndhwc : memory::format_tag::nhwc);
}

// Per-channel mean and biased variance of one channels-last sample [spatial, channels], in two passes
// accumulated in double as LibTorch's CPU norms do: oneDNN's own float statistics moved an nnU-Net model's
// golden logits 4x further from float64 than LibTorch's did. Fixed chunks keep the sums independent of
// the thread count.
void ChannelStatistics(const float* data, int64_t spatial, int64_t channels, float* mean, float* variance) {
  constexpr int64_t kChunks = 64;
  std::vector<double> partial(static_cast<size_t>(kChunks * channels));
  std::vector<double> centre(static_cast<size_t>(channels), 0.0);
  const auto accumulate = [&](bool squares) {
    std::fill(partial.begin(), partial.end(), 0.0);
    at::parallel_for(0, kChunks, 1, [&](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) {
        double* sum = partial.data() + k * channels;
        for (int64_t s = spatial * k / kChunks; s < spatial * (k + 1) / kChunks; ++s) {
          const float* row = data + s * channels;
          for (int64_t c = 0; c < channels; ++c) {
            const double value = static_cast<double>(row[c]) - centre[static_cast<size_t>(c)];
            sum[c] += squares ? value * value : value;
          }
        }
      }
    });
    std::vector<double> total(static_cast<size_t>(channels), 0.0);
    for (int64_t k = 0; k < kChunks; ++k)
      for (int64_t c = 0; c < channels; ++c) total[static_cast<size_t>(c)] += partial[static_cast<size_t>(k * channels + c)];
    for (double& t : total) t /= static_cast<double>(spatial);
    return total;
  };
  centre = accumulate(false);
  const std::vector<double> second = accumulate(true);
  for (int64_t c = 0; c < channels; ++c) {
    mean[c] = static_cast<float>(centre[static_cast<size_t>(c)]);
    variance[c] = static_cast<float>(second[static_cast<size_t>(c)]);
  }
}

// What the plans of one network share. They run one at a time, so their activations can lie in the same
// buffers (a sliding window's full and last batches then need one plan's memory, not two), and a
// convolution's weights prepacked for one batch size serve another when the layout is the same.
struct SharedMemory {
  struct Buffer {
    size_t bytes = 0;
    std::shared_ptr<void> data;  // never resized while the network lives
  };
  std::vector<Buffer> buffers;
  std::unordered_map<size_t, std::vector<memory>> weights;  // by operation
};

class Plan {
 public:
  Plan(const Program& program, const Dims& input_dims, const dnnl::engine& engine, dnnl::stream& stream, SharedMemory& shared)
      : engine_(engine), stream_(stream), shared_(shared), last_use_(static_cast<size_t>(program.values), 0), values_(static_cast<size_t>(program.values)),
        buffer_of_(static_cast<size_t>(program.values), -1) {
    const auto& operations = program.operations;
    for (size_t i = 0; i < operations.size(); ++i)
      for (int input : Inputs(operations[i])) last_use_[static_cast<size_t>(input)] = i;
    for (int output : program.outputs) last_use_[static_cast<size_t>(output)] = operations.size();

    // The caller's tensor is copied in (channels last), so that every value has its own fixed memory.
    const memory::desc plain(input_dims, memory::data_type::f32, PlainTag(program.spatial_rank));
    input_ = memory(plain, engine_, static_cast<void*>(nullptr));
    AddReorder(input_, Allocate(0, ChannelsLast(input_dims)));
    for (size_t i = 0; i < operations.size(); ++i) {
      std::visit([&](const auto& operation) { Add(operation, i); }, operations[i]);
    }
    const Dims output_dims = values_[static_cast<size_t>(program.outputs.front())].get_desc().dims();
    output_dims_ = output_dims;
    if (program.stacked) output_dims_.insert(output_dims_.begin(), static_cast<int64_t>(program.outputs.size()));
    const memory::desc output_plain(output_dims, memory::data_type::f32, PlainTag(program.spatial_rank));
    for (int output : program.outputs) {
      if (values_[static_cast<size_t>(output)].get_desc().dims() != output_dims) throw Unsupported("stacked outputs of different shapes");
      outputs_.emplace_back(output_plain, engine_, static_cast<void*>(nullptr));
      AddReorder(values_[static_cast<size_t>(output)], outputs_.back());
    }
  }

  torch::Tensor Run(const torch::Tensor& input) {
    input_.set_data_handle(input.data_ptr());
    torch::Tensor output = torch::empty(output_dims_, input.options());
    const auto slice = output.numel() / static_cast<int64_t>(outputs_.size());
    for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i].set_data_handle(output.data_ptr<float>() + static_cast<int64_t>(i) * slice);
    for (auto& step : steps_) step();
    stream_.wait();
    return output;
  }

 private:
  static std::vector<int> Inputs(const Operation& operation) {
    return std::visit([](const auto& op) -> std::vector<int> {
      if constexpr (std::is_same_v<std::decay_t<decltype(op)>, Concatenation>) return op.inputs;
      else return {op.input};
    }, operation);
  }

  // Memory for VALUE in layout DESC, from a shared buffer this plan no longer reads (best fit) or a new one.
  memory Allocate(int value, const memory::desc& desc) {
    auto& buffers = shared_.buffers;
    in_use_.resize(buffers.size(), false);
    const size_t bytes = desc.get_size();
    int chosen = -1;
    for (size_t b = 0; b < buffers.size(); ++b)
      if (!in_use_[b] && buffers[b].bytes >= bytes && (chosen < 0 || buffers[b].bytes < buffers[static_cast<size_t>(chosen)].bytes))
        chosen = static_cast<int>(b);
    if (chosen < 0) {
      void* data = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
      if (!data) throw std::bad_alloc();
      buffers.push_back({bytes, std::shared_ptr<void>(data, std::free)});
      in_use_.push_back(false);
      chosen = static_cast<int>(buffers.size()) - 1;
    }
    in_use_[static_cast<size_t>(chosen)] = true;
    buffer_of_[static_cast<size_t>(value)] = chosen;
    values_[static_cast<size_t>(value)] = memory(desc, engine_, buffers[static_cast<size_t>(chosen)].data.get());
    return values_[static_cast<size_t>(value)];
  }

  // Operation INDEX's weights GIVEN in the layout DESC: prepacked once per layout.
  memory PrepackedWeights(size_t index, memory given, const memory::desc& desc) {
    auto& prepacked = shared_.weights[index];
    for (const memory& weights : prepacked)
      if (weights.get_desc() == desc) return weights;
    memory weights(desc, engine_);
    dnnl::reorder(given, weights).execute(stream_, given, weights);
    stream_.wait();
    prepacked.push_back(weights);
    return weights;
  }

  void AddReorder(const memory& from, const memory& to) {
    AddPrimitive(dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
  }

  void AddPrimitive(const dnnl::primitive& primitive, std::unordered_map<int, memory> arguments) {
    steps_.push_back([this, primitive, arguments]() { primitive.execute(stream_, arguments); });
  }

  // After operation INDEX, the buffers of the values it read for the last time are free again.
  void Release(const std::vector<int>& inputs, size_t index) {
    for (int value : inputs) {
      if (last_use_[static_cast<size_t>(value)] != index) continue;
      Free(value);
    }
  }
  void Free(int value) {
    const int buffer = buffer_of_[static_cast<size_t>(value)];
    if (buffer >= 0) in_use_[static_cast<size_t>(buffer)] = false;
  }

  // VALUE's memory for an operation that may write in place: its own when INDEX is its last reader.
  memory InPlaceOr(int value, int output, size_t index) {
    if (last_use_[static_cast<size_t>(value)] == index) {
      values_[static_cast<size_t>(output)] = values_[static_cast<size_t>(value)];
      buffer_of_[static_cast<size_t>(output)] = std::exchange(buffer_of_[static_cast<size_t>(value)], -1);  // now the output's
      return values_[static_cast<size_t>(output)];
    }
    return Allocate(output, values_[static_cast<size_t>(value)].get_desc());
  }

  // PRIMITIVE (a convolution or a transposed one) for CONVOLUTION's arguments, and its descriptor.
  template <typename Primitive>
  std::pair<dnnl::primitive_desc_base, dnnl::primitive> Describe(dnnl::algorithm algorithm, const Convolution& convolution,
                                                                 const memory::desc& source, const memory::desc& weights,
                                                                 const memory::desc& bias, const memory::desc& destination) const {
    const auto prop = dnnl::prop_kind::forward_inference;
    const auto& [stride, dilation, padding] = std::tie(convolution.stride, convolution.dilation, convolution.padding);
    const auto desc = convolution.bias
        ? typename Primitive::desc(prop, algorithm, source, weights, bias, destination, stride, dilation, padding, padding)
        : typename Primitive::desc(prop, algorithm, source, weights, destination, stride, dilation, padding, padding);
    const typename Primitive::primitive_desc descriptor(desc, engine_);
    return {descriptor, Primitive(descriptor)};
  }

  void Add(const Convolution& convolution, size_t index) {
    const Dims in = values_[static_cast<size_t>(convolution.input)].get_desc().dims();
    const auto& w = convolution.weight;
    const int64_t out_channels = convolution.transposed ? w.size(1) : w.size(0);
    const int64_t in_channels = convolution.transposed ? w.size(0) : w.size(1);
    if (in[1] != in_channels) throw std::runtime_error("oneDNN network: a convolution expects " + std::to_string(in_channels) + " channels, got " + std::to_string(in[1]));
    Dims weight_dims{out_channels, in_channels};
    Dims out{in[0], out_channels};
    for (size_t a = 0; a < convolution.stride.size(); ++a) {
      const int64_t kernel = w.size(static_cast<int64_t>(a) + 2);
      weight_dims.push_back(kernel);
      const int64_t extent = (kernel - 1) * (convolution.dilation[a] + 1) + 1;
      out.push_back(convolution.transposed ? (in[a + 2] - 1) * convolution.stride[a] - 2 * convolution.padding[a] + extent
                                           : (in[a + 2] + 2 * convolution.padding[a] - extent) / convolution.stride[a] + 1);
    }
    const auto f32 = memory::data_type::f32;
    // Weights in the layout the primitive prefers (reordered once below).
    const memory::desc source = ChannelsLast(in), weight_any(weight_dims, f32, memory::format_tag::any), destination = ChannelsLast(out);
    const memory::desc bias_desc({out_channels}, f32, memory::format_tag::x);
    const bool three_d = in.size() == 5;
    const auto [descriptor, primitive] =
        convolution.transposed
            ? Describe<dnnl::deconvolution_forward>(dnnl::algorithm::deconvolution_direct, convolution, source, weight_any, bias_desc, destination)
            : Describe<dnnl::convolution_forward>(dnnl::algorithm::convolution_direct, convolution, source, weight_any, bias_desc, destination);
    const memory::format_tag weight_tag = convolution.transposed ? (three_d ? memory::format_tag::iodhw : memory::format_tag::iohw)
                                                                 : (three_d ? memory::format_tag::oidhw : memory::format_tag::oihw);
    const memory given(memory::desc(weight_dims, f32, weight_tag), engine_, w.data_ptr());
    const memory weights = PrepackedWeights(index, given, descriptor.weights_desc());
    std::unordered_map<int, memory> arguments{{DNNL_ARG_SRC, values_[static_cast<size_t>(convolution.input)]},
                                              {DNNL_ARG_WEIGHTS, weights}};
    if (convolution.bias) arguments[DNNL_ARG_BIAS] = memory(bias_desc, engine_, convolution.bias->data_ptr());
    arguments[DNNL_ARG_DST] = Allocate(convolution.output, descriptor.dst_desc());
    AddPrimitive(primitive, std::move(arguments));
    Release({convolution.input}, index);
  }

  // Instance norm is batch norm of each sample alone, with the sample's own statistics.
  void Add(const Normalisation& normalisation, size_t index) {
    const memory source = values_[static_cast<size_t>(normalisation.input)];
    const memory::desc desc = source.get_desc();
    Dims sample_dims = desc.dims();
    const int64_t samples = sample_dims[0];
    int64_t spatial = 1;
    for (size_t a = 2; a < sample_dims.size(); ++a) spatial *= sample_dims[a];
    if (spatial <= 1) throw std::runtime_error("oneDNN network: an instance norm needs more than 1 spatial element");
    const int64_t channels = sample_dims[1];
    const torch::Tensor scale = normalisation.scale.value_or(torch::ones({channels}));
    const torch::Tensor shift = normalisation.shift.value_or(torch::zeros({channels}));
    if (scale.numel() != channels || shift.numel() != channels)
      throw std::runtime_error("oneDNN network: an instance norm's weight does not match its channels");
    parameters_.push_back(scale);
    parameters_.push_back(shift);
    if (desc != ChannelsLast(desc.dims())) throw std::runtime_error("oneDNN network: an instance norm's input is not channels last");
    sample_dims[0] = 1;
    const memory::desc sample = ChannelsLast(sample_dims);
    const memory destination = InPlaceOr(normalisation.input, normalisation.output, index);
    const dnnl::batch_normalization_forward::primitive_desc pd(
        dnnl::batch_normalization_forward::desc(dnnl::prop_kind::forward_inference, sample, normalisation.epsilon,
                                                dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                                                    dnnl::normalization_flags::use_shift),
        engine_);
    const memory::desc per_channel({channels}, memory::data_type::f32, memory::format_tag::x);
    const memory scale_memory(per_channel, engine_, scale.data_ptr()), shift_memory(per_channel, engine_, shift.data_ptr());
    const memory mean(pd.mean_desc(), engine_), variance(pd.variance_desc(), engine_);
    const int64_t sample_size = spatial * channels;
    for (int64_t n = 0; n < samples; ++n) {
      float* const sample_source = static_cast<float*>(source.get_data_handle()) + n * sample_size;
      steps_.push_back([=]() {
        ChannelStatistics(sample_source, spatial, channels, static_cast<float*>(mean.get_data_handle()),
                          static_cast<float*>(variance.get_data_handle()));
      });
      AddPrimitive(dnnl::batch_normalization_forward(pd),
                   {{DNNL_ARG_SRC, memory(sample, engine_, sample_source)},
                    {DNNL_ARG_DST, memory(sample, engine_, static_cast<float*>(destination.get_data_handle()) + n * sample_size)},
                    {DNNL_ARG_SCALE, scale_memory},
                    {DNNL_ARG_SHIFT, shift_memory},
                    {DNNL_ARG_MEAN, mean},
                    {DNNL_ARG_VARIANCE, variance}});
    }
    if (normalisation.slope) AddActivationStep(destination, destination, *normalisation.slope);
    Release({normalisation.input}, index);
  }

  void AddActivationStep(const memory& source, const memory& destination, float slope) {
    const dnnl::eltwise_forward::primitive_desc pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::eltwise_relu, source.get_desc(), slope, 0.0f), engine_);
    AddPrimitive(dnnl::eltwise_forward(pd), {{DNNL_ARG_SRC, source}, {DNNL_ARG_DST, destination}});
  }

  void Add(const Activation& activation, size_t index) {
    const memory source = values_[static_cast<size_t>(activation.input)];
    AddActivationStep(source, InPlaceOr(activation.input, activation.output, index), activation.slope);
    Release({activation.input}, index);
  }

  // Each input copied into its channels of the output: oneDNN 2.6's concat primitive has only its
  // reference implementation for channels-last inputs.
  void Add(const Concatenation& concatenation, size_t index) {
    const memory::desc first = values_[static_cast<size_t>(concatenation.inputs.front())].get_desc();
    Dims dims = first.dims();
    dims[1] = 0;
    for (int input : concatenation.inputs) dims[1] += values_[static_cast<size_t>(input)].get_desc().dims()[1];
    const memory destination = Allocate(concatenation.output, ChannelsLast(dims));
    Dims offsets(dims.size(), 0);
    for (int input : concatenation.inputs) {
      const memory source = values_[static_cast<size_t>(input)];
      const Dims part = source.get_desc().dims();
      AddReorder(source, memory(destination.get_desc().submemory_desc(part, offsets), engine_, destination.get_data_handle()));
      offsets[1] += part[1];
    }
    Release(concatenation.inputs, index);
  }

  dnnl::engine engine_;
  dnnl::stream& stream_;
  SharedMemory& shared_;
  std::vector<size_t> last_use_;  // the last operation reading each program value
  std::vector<memory> values_;    // each program value's memory, channels last
  std::vector<int> buffer_of_;
  std::vector<bool> in_use_;  // by shared buffer, while the plan is built
  std::vector<std::function<void()>> steps_;
  std::vector<torch::Tensor> parameters_;  // the norms' scales and shifts the steps read
  memory input_;
  std::vector<memory> outputs_;
  Dims output_dims_;
};

class OnednnNetwork : public torch::CustomClassHolder {
 public:
  explicit OnednnNetwork(Program program) : program_(std::move(program)) {}

  torch::Tensor Run(const torch::Tensor& given) {
    const size_t rank = program_.spatial_rank + 2;
    if (given.dim() != static_cast<int64_t>(rank) || given.scalar_type() != torch::kFloat32 || !given.device().is_cpu())
      throw std::runtime_error("oneDNN network: expected a float32 CPU tensor of " + std::to_string(rank) + " dimensions");
    const torch::Tensor input = given.contiguous();
    const Dims dims(input.sizes().begin(), input.sizes().end());
    const std::lock_guard<std::mutex> lock(mutex_);
    return PlanFor(dims).Run(input);
  }

 private:
  // Plans are kept for the last few input shapes (a sliding window's full and last batches).
  Plan& PlanFor(const Dims& dims) {
    for (auto& [shape, plan] : plans_)
      if (shape == dims) return *plan;
    if (plans_.size() == 3) plans_.erase(plans_.begin());
    plans_.emplace_back(dims, std::make_unique<Plan>(program_, dims, engine_, stream_, shared_));
    return *plans_.back().second;
  }

  Program program_;
  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  std::mutex mutex_;
  SharedMemory shared_;
  std::vector<std::pair<Dims, std::unique_ptr<Plan>>> plans_;
};

torch::Tensor RunOnednnNetwork(const c10::intrusive_ptr<OnednnNetwork>& network, const torch::Tensor& input) {
  return network->Run(input);
}

TORCH_LIBRARY(medpipe, library) {
  library.class_<OnednnNetwork>("OnednnNetwork");
  library.def("onednn_run(__torch__.torch.classes.medpipe.OnednnNetwork network, Tensor input) -> Tensor", RunOnednnNetwork);
}

}  // namespace

bool OnednnNetworkBuilt() { return true; }

bool RunMethodWithOnednn(torch::jit::Module& module, const std::string& method, std::string* why_not) {
  const auto graph = module.get_method(method).graph();
  Program program;
  try {
    program = ProgramBuilder().Build(*graph);
  } catch (const Unsupported& unsupported) {
    if (why_not) *why_not = unsupported.what();
    return false;
  }
  Value* input = graph->inputs()[1];
  Node* call = nullptr;
  {
    torch::jit::WithInsertPoint guard(graph->return_node());
    Value* network = graph->insertConstant(c10::IValue(c10::make_intrusive<OnednnNetwork>(std::move(program))));
    call = graph->insertNode(graph->create(c10::Symbol::fromQualString("medpipe::onednn_run"), {network, input}));
    call->output()->setType(c10::TensorType::get());
  }
  graph->return_node()->replaceInput(0, call->output());
  // Everything before the call, shape checks included, is now the network's: removed last user first.
  std::vector<Node*> replaced;
  for (Node* node : graph->nodes())
    if (node != call && node != call->input(0)->node()) replaced.push_back(node);
  for (auto it = replaced.rbegin(); it != replaced.rend(); ++it) (*it)->destroy();
  return true;
}

}  // namespace medpipe::inference

#else  // LibTorch 2 links its own oneDNN 3, whose symbols Debian's oneDNN 2 next to it would collide with.

namespace medpipe::inference {

bool OnednnNetworkBuilt() { return false; }

bool RunMethodWithOnednn(torch::jit::Module&, const std::string&, std::string* why_not) {
  if (why_not) *why_not = "built without Debian's oneDNN (LibTorch 2 brings its own)";
  return false;
}

}  // namespace medpipe::inference

#endif
