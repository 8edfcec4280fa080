// The engine on small TorchScript models with known weights: sliding window, weighting, mirroring,
// batching and out-of-memory retries, and the checks that refuse a wrong or damaged model.
#include <gtest/gtest.h>

#include <fstream>
#include <functional>

#include <torch/cuda.h>

#include "inference/test_models.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/inference/cpu_module.h"
#include "medpipe/inference/device.h"
#include "medpipe/inference/explain.h"
#include "medpipe/inference/onednn_network.h"
#include "medpipe/inference/predictor.h"
#include "medpipe/inference/sliding_window.h"
#include "test_support.h"

namespace medpipe::inference {
namespace {

using testing::ScriptModel;
using testing::BatchLimitedModel;
using testing::SegmentationManifest;
using testing::WritePackage;

class InferenceTest : public testing::TempDirTest {
 protected:
  LoadedModel Package(const std::string& name, torch::jit::Module module, const nlohmann::json& manifest,
                      Precision precision = Precision::Fp32) {
    WritePackage(dir_ / name, std::move(module), manifest);
    return LoadedModel::Load(dir_ / name, ParseDevice(testing::TestDevice()), precision);
  }
  // The error message of loading the package in DIRECTORY.
  std::string LoadError(const std::filesystem::path& directory) {
    try {
      LoadedModel::Load(directory, torch::kCPU, Precision::Fp32);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "loaded";
  }
};

TEST(WindowStartsTest, EvenlySpacedFromZeroToTheEnd) {
  EXPECT_EQ(WindowStarts(10, 4, 0.5), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(WindowStarts(16, 16, 0.5), (std::vector<int64_t>{0}));
  EXPECT_EQ(WindowStarts(17, 16, 0.5), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(WindowStarts(193, 128, 0.5), (std::vector<int64_t>{0, 32, 65}));  // nnU-Net rounds 32.5 to even
  for (int64_t size : {33, 100, 301}) {
    const auto starts = WindowStarts(size, 32, 0.25);
    EXPECT_EQ(starts.front(), 0);
    EXPECT_EQ(starts.back(), size - 32);
    for (size_t i = 1; i < starts.size(); ++i) EXPECT_LE(starts[i] - starts[i - 1], 24) << size;
  }
}

TEST(GaussianImportanceTest, PeaksAtTheCentreAndIsPositiveEverywhere) {
  const auto map = GaussianImportance({8, 16, 12});
  ASSERT_EQ(map.sizes(), (c10::IntArrayRef{8, 16, 12}));
  EXPECT_FLOAT_EQ(map[4][8][6].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(map.max().item<float>(), 1.0f);
  EXPECT_GT(map.min().item<float>(), 0.0f);
  // Symmetric about the centre voxel: one step either way weighs the same.
  EXPECT_FLOAT_EQ(map[4][7][6].item<float>(), map[4][9][6].item<float>());
  EXPECT_LT(map[0][0][0].item<float>(), 1e-3f);
}

TEST_F(InferenceTest, WeightsNormaliseToOneAtBordersAndCorners) {
  // A model that outputs 1 everywhere: the weighted average must be exactly 1 at every voxel,
  // including the rim, where fewer and lower-weighted patches overlap.
  auto model = Package("ones", ScriptModel("def forward(self, x):\n    return torch.ones_like(x).repeat([1, 2, 1, 1, 1])\n"),
                       SegmentationManifest("ones", 2, 8));
  PredictReport report;
  const auto logits = SlidingWindowLogits(model, torch::rand({1, 19, 23, 13}), {0.5, 4, false}, report);
  EXPECT_NEAR((logits - 1).abs().max().item<float>(), 0.0f, 1e-6f);
  EXPECT_EQ(report.patches, 4 * 5 * 3);
}

TEST_F(InferenceTest, SlidingWindowReproducesWholeImageInference) {
  auto model = Package("pointwise", testing::PointwiseModel(), SegmentationManifest("pointwise", 3, 16));
  const auto image = torch::randn({1, 37, 45, 41});
  const auto whole = model.Forward(image.unsqueeze(0))[0].to(torch::kCPU);
  for (const bool mirror : {false, true}) {
    PredictReport report;
    const auto tiled = SlidingWindowLogits(model, image, {0.5, 3, mirror}, report);
    EXPECT_LT((tiled - whole).abs().max().item<float>(), 1e-5f) << "mirror " << mirror;
    EXPECT_GT(report.patches, 8);
    EXPECT_EQ(report.batch_size, 3);
  }
}

TEST_F(InferenceTest, TwoDimensionalModelsSlideOverSlices) {
  auto manifest = SegmentationManifest("pointwise2d", 2, 16);
  manifest["input"]["spatial_dims"] = 2;
  manifest["input"]["patch_size"] = {16, 16};
  manifest["input"]["mirror_axes"] = {0, 1};
  manifest["golden"]["input_shape"] = {1, 1, 16, 16};
  auto model = Package("pointwise2d", ScriptModel(R"(
def forward(self, x):
    return torch.cat([x * 0.0, 2.0 * x - 1.0], 1)
)"),
                       manifest);
  const auto image = torch::randn({1, 1, 40, 29});
  PredictReport report;
  const auto tiled = SlidingWindowLogits(model, image, {0.5, 2, true}, report);
  EXPECT_LT((tiled[1] - (2 * image[0] - 1)).abs().max().item<float>(), 1e-5f);
}

TEST_F(InferenceTest, OutOfMemoryHalvesTheBatch) {
  // This model fails like the CUDA allocator does whenever a batch holds more than one patch.
  auto model = Package("oom", BatchLimitedModel("CUDA out of memory. Tried to allocate 20.00 GiB"),
                       SegmentationManifest("oom", 2, 8));
  const auto image = torch::randn({1, 12, 12, 12});
  PredictReport report;
  const auto logits = SlidingWindowLogits(model, image, {0.5, 4, false}, report);
  EXPECT_EQ(report.batch_size, 1);
  ASSERT_EQ(report.fallbacks.size(), 2u);
  EXPECT_NE(report.fallbacks[0].find("out of memory"), std::string::npos);
  EXPECT_NE(report.fallbacks[1].find("retried with batch size 1"), std::string::npos);
  EXPECT_LT((logits[1] - image[0]).abs().max().item<float>(), 1e-5f);
}

TEST_F(InferenceTest, OtherModelErrorsAreNotRetried) {
  auto model = Package("fails", BatchLimitedModel("shape mismatch"), SegmentationManifest("fails", 2, 8));
  PredictReport report;
  EXPECT_THROW(SlidingWindowLogits(model, torch::randn({1, 12, 12, 12}), {0.5, 4, false}, report), std::exception);
}

model::Label NamedLabel(int value, const std::string& name) {
  model::Label label;
  label.value = value;
  label.name = name;
  return label;
}

// Logits [K, 1, 1, X] from one row of values per channel.
torch::Tensor RowLogits(const std::vector<std::vector<float>>& rows) {
  std::vector<torch::Tensor> channels;
  for (const auto& row : rows) channels.push_back(torch::tensor(row).view({1, 1, -1}));
  return torch::stack(channels);
}

std::vector<int> LabelRow(const torch::Tensor& labels) {
  EXPECT_EQ(labels.scalar_type(), torch::kUInt8);
  const auto row = labels.to(torch::kInt32).flatten();
  return std::vector<int>(row.data_ptr<int>(), row.data_ptr<int>() + row.numel());
}

TEST(LabelMapTest, SoftmaxTakesTheArgmaxWithTiesToTheLowestChannel) {
  const auto logits = RowLogits({{2.0F, 0.1F, 0.2F, 0.4F, 0.1F}, {0.2F, 3.0F, 0.3F, 0.4F, 0.45F}, {0.1F, 0.1F, 0.5F, 0.2F, 0.45F}});
  EXPECT_EQ(LabelRow(LabelMap(logits, model::Activation::Softmax, {NamedLabel(1, "a"), NamedLabel(2, "b")})),
            (std::vector<int>{0, 1, 2, 0, 1}));
}

TEST(LabelMapTest, SigmoidTakesTheMostProbableLabelAboveOneHalf) {
  // Logit 0 is probability 0.5 exactly, which is not above one half.
  const auto logits = RowLogits({{-1.0F, 0.4F, 0.8F, 1.2F, 0.0F},    // liver
                                 {-0.4F, 2.0F, -0.8F, 1.2F, 0.0F}});  // spleen
  EXPECT_EQ(LabelRow(LabelMap(logits, model::Activation::Sigmoid, {NamedLabel(3, "liver"), NamedLabel(7, "spleen")})),
            (std::vector<int>{0, 7, 3, 3, 0}));
}

TEST(LabelMapTest, RejectsAChannelCountTheLabelsCannotHold) {
  EXPECT_THROW(LabelMap(RowLogits({{0.2F, 0.6F}, {0.4F, 0.9F}}), model::Activation::Sigmoid, {NamedLabel(1, "only")}),
               ModelError);
  EXPECT_THROW(LabelMap(torch::zeros({257, 1, 1, 2}), model::Activation::Softmax, {}), ModelError);
}

TEST_F(InferenceTest, ClassificationGivesProbabilitiesPerClass) {
  auto model = Package("classifier", testing::MeanIntensityClassifier(), testing::ClassifierManifest("classifier", 32));
  const auto image = torch::full({1, 1, 32, 32}, 0.25f);
  PredictReport report;
  const auto probabilities = Predict(model, image, {}, report);
  ASSERT_EQ(probabilities.sizes(), (c10::IntArrayRef{2}));
  // logits (4 * 0.25 - 2, 2 - 4 * 0.25) = (-1, 1)
  EXPECT_NEAR(probabilities[0].item<float>(), 1 / (1 + std::exp(2.0f)), 1e-6f);
  EXPECT_NEAR(probabilities.sum().item<float>(), 1.0f, 1e-6f);
}

TEST_F(InferenceTest, GoldenVectorPassesForTheSealedModel) {
  const auto directory = WritePackage(dir_ / "pointwise", testing::PointwiseModel(), SegmentationManifest("pointwise", 3, 16));
  const auto manifest = model::LoadManifest(directory);
  EXPECT_EQ(manifest.sha256, Sha256File(directory / "model.pt"));
  EXPECT_EQ(manifest.golden.output_shape, (std::vector<int64_t>{1, 3, 16, 16, 16}));
  EXPECT_EQ(LoadError(directory), "loaded");
}

TEST_F(InferenceTest, Fp16IsCudaOnly) {
  auto model = Package("pointwise", testing::PointwiseModel(), SegmentationManifest("pointwise", 3, 16), Precision::Fp16);
  if (model.Device().is_cuda()) {
    EXPECT_EQ(model.ActivePrecision(), Precision::Fp16);
    EXPECT_NE(model.PrecisionNote().find("of fp32"), std::string::npos) << model.PrecisionNote();
  } else {
    EXPECT_EQ(model.ActivePrecision(), Precision::Fp32);
    EXPECT_NE(model.PrecisionNote().find("CUDA only"), std::string::npos) << model.PrecisionNote();
  }
}

// bf16 on a CPU runs where the CPU computes bf16 itself (auto: where it has AMX), and passes the
// golden check on a smooth model.
TEST_F(InferenceTest, Bf16RunsOnCpusWithBf16ArithmeticWhenItPassesTheGoldenCheck) {
  for (const Precision asked : {Precision::Bf16, Precision::Auto}) {
    SCOPED_TRACE(PrecisionName(asked));
    auto model = LoadedModel::Load(
        testing::WritePackage(dir_ / "pointwise", testing::PointwiseModel(), SegmentationManifest("pointwise", 3, 16)),
        torch::kCPU, asked);
    if (asked == Precision::Auto && CpuHasNativeBf16() && !CpuHasAmxBf16()) {
      EXPECT_EQ(model.ActivePrecision(), Precision::Fp32);
      EXPECT_NE(model.PrecisionNote().find("auto: fp32"), std::string::npos) << model.PrecisionNote();
    } else if (CpuHasNativeBf16()) {
      EXPECT_EQ(model.ActivePrecision(), Precision::Bf16);
      EXPECT_NE(model.PrecisionNote().find("bf16 probabilities on the golden input within"), std::string::npos)
          << model.PrecisionNote();
    } else {
      EXPECT_EQ(model.ActivePrecision(), Precision::Fp32);
      EXPECT_NE(model.PrecisionNote().find("no bf16 arithmetic"), std::string::npos) << model.PrecisionNote();
    }
  }
}

// Logit 5000 (x - 0.3): bf16's 8-bit mantissa moves x near 0.3 by up to 0.001, so a probability by
// far more than 0.05 on the golden input; the model runs in fp32 and says why.
TEST_F(InferenceTest, Bf16ThatMovesProbabilitiesFailsTheGoldenCheckAndRunsInFp32) {
  if (!CpuHasNativeBf16()) GTEST_SKIP() << "this CPU has no bf16 arithmetic; bf16 is not tried";
  const auto sensitive = ScriptModel(R"(
def forward(self, x):
    return torch.cat([torch.zeros_like(x), (x - 0.3) * 5000.0], 1)
)");
  for (const Precision asked : {Precision::Bf16, Precision::Auto}) {
    if (asked == Precision::Auto && !CpuHasAmxBf16()) continue;  // auto does not try bf16 here
    SCOPED_TRACE(PrecisionName(asked));
    auto model = LoadedModel::Load(testing::WritePackage(dir_ / "sensitive", sensitive, SegmentationManifest("sensitive", 2, 16)),
                                   torch::kCPU, asked);
    EXPECT_EQ(model.ActivePrecision(), Precision::Fp32);
    EXPECT_NE(model.PrecisionNote().find("bf16 moved probabilities by"), std::string::npos) << model.PrecisionNote();
  }
}

// A small U-Net-like model: a 3x3x3 convolution, instance norm, a stride-2 convolution down and a
// transposed convolution (kernel 2, stride 2) up, the skip added, a 1x1x1 head to 3 classes.
torch::jit::Module SmallUNet() {
  torch::manual_seed(7);
  torch::jit::Module module("SmallUNet");
  module.register_parameter("w1", torch::randn({4, 1, 3, 3, 3}) * 0.5, false);
  module.register_parameter("w2", torch::randn({8, 4, 2, 2, 2}) * 0.3, false);
  module.register_parameter("wt", torch::randn({8, 4, 2, 2, 2}) * 0.3, false);
  module.register_parameter("bt", torch::randn({4}) * 0.1, false);
  module.register_parameter("wh", torch::randn({3, 4, 1, 1, 1}), false);
  module.define(R"(
def forward(self, x):
    a = torch.leaky_relu(torch.instance_norm(torch.conv3d(x, self.w1, None, [1, 1, 1], [1, 1, 1]), None, None, None, None, True, 0.1, 1e-5, False), 0.01)
    b = torch.leaky_relu(torch.conv3d(a, self.w2, None, [2, 2, 2]), 0.01)
    u = torch.conv_transpose3d(b, self.wt, self.bt, [2, 2, 2])
    return torch.conv3d(u + a, self.wh)
)");
  return module;
}

TEST(CpuModuleTest, StrideEqualsKernelTransposedConvolutionsBecomeOneByOneConvolutions) {
  auto module = SmallUNet();
  const auto input = torch::randn({2, 1, 12, 10, 8});
  c10::InferenceMode inference_mode;
  const auto expected = module.forward({input}).toTensor();
  auto frozen = torch::jit::freeze(module);
  auto graph = frozen.get_method("forward").graph();
  EXPECT_EQ(ReplaceStridedTransposedConvolutions(*graph), 1);
  for (const auto* node : graph->nodes()) EXPECT_NE(node->kind(), c10::aten::conv_transpose3d) << *graph;
  EXPECT_LT((frozen.forward({input}).toTensor() - expected).abs().max().item<double>(), 1e-4);
  EXPECT_LT((CpuModule(module, Precision::Fp32).forward({input}).toTensor() - expected).abs().max().item<double>(), 1e-4);
}

TEST(CpuModuleTest, OtherTransposedConvolutionsAreKept) {
  torch::jit::Module module("Overlapping");
  module.register_parameter("w", torch::randn({2, 3, 3, 3}), false);
  module.register_parameter("v", torch::randn({2, 3, 2, 2}), false);
  module.define(R"(
def forward(self, x):
    return torch.conv_transpose2d(x, self.w, None, [2, 2], [1, 1]) + torch.conv_transpose2d(x, self.v, None, [2, 2])[:, :, 1:, 1:]
)");
  const auto input = torch::randn({1, 2, 6, 5});
  c10::InferenceMode inference_mode;
  const auto expected = module.forward({input}).toTensor();
  auto frozen = torch::jit::freeze(module);
  EXPECT_EQ(ReplaceStridedTransposedConvolutions(*frozen.get_method("forward").graph()), 1);  // v's only
  EXPECT_LT((frozen.forward({input}).toTensor() - expected).abs().max().item<double>(), 1e-4);
}

// Whether GRAPH runs as one oneDNN network (and no LibTorch convolution is left in it).
bool RunsAsOnednnNetwork(const torch::jit::Graph& graph) {
  bool network = false;
  for (const auto* node : graph.nodes()) {
    if (node->kind() == c10::aten::conv3d || node->kind() == c10::aten::conv2d) return false;
    network |= std::string(node->kind().toQualString()) == "medpipe::onednn_run";
  }
  return network;
}

// The shipped hippocampus U-Net (scripted: instance norms with their shape checks, in-place leaky ReLUs,
// skips in a list, transposed convolutions, concatenations) as one oneDNN network, against LibTorch as
// saved, for two batch sizes and two patch shapes (each its own plan).
TEST(CpuModuleTest, OnednnNetworkComputesTheShippedUNetAsLibTorchDoes) {
  if (!OnednnNetworkBuilt()) GTEST_SKIP() << "built against LibTorch 2: no oneDNN network";
  auto saved = torch::jit::load(MEDPIPE_SOURCE_DIR "/models/hippocampus/model.pt");
  saved.eval();
  auto frozen = torch::jit::freeze(saved.clone());
  std::string why_not;
  ASSERT_TRUE(RunMethodWithOnednn(frozen, "forward", &why_not)) << why_not;
  ASSERT_TRUE(RunsAsOnednnNetwork(*frozen.get_method("forward").graph())) << *frozen.get_method("forward").graph();
  const auto optimised = CpuModule(saved, Precision::Fp32);
  ASSERT_TRUE(RunsAsOnednnNetwork(*optimised.get_method("forward").graph()));
  c10::InferenceMode inference_mode;
  torch::manual_seed(3);
  for (const auto& shape : {std::vector<int64_t>{2, 1, 40, 56, 40}, {1, 1, 40, 56, 40}, {1, 1, 32, 48, 24}, {2, 1, 40, 56, 40}}) {
    const auto input = torch::randn(shape);
    const auto expected = saved.forward({input}).toTensor();
    const auto actual = frozen.forward({input}).toTensor();
    ASSERT_EQ(actual.sizes(), expected.sizes());
    EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-5 * expected.abs().max().item<double>()) << input.sizes();
  }
}

// A 2-D network with what the shipped one lacks: a ReLU on its own, channel counts that are no multiple
// of oneDNN's blocks, and an ensemble's method returning several heads' logits stacked.
TEST(CpuModuleTest, OnednnNetworkComputesStackedTwoDimensionalHeads) {
  if (!OnednnNetworkBuilt()) GTEST_SKIP() << "built against LibTorch 2: no oneDNN network";
  torch::manual_seed(11);
  torch::jit::Module module("Ensemble2d");
  for (const auto& [name, shape] : std::vector<std::pair<std::string, std::vector<int64_t>>>{
           {"w1", {6, 2, 3, 3}}, {"b1", {6}}, {"g1", {6}}, {"h1", {6}}, {"w2", {10, 6, 2, 2}}, {"g2", {10}}, {"h2", {10}},
           {"wt", {10, 6, 2, 2}}, {"bt", {6}}, {"wa", {3, 12, 1, 1}}, {"wb", {3, 12, 3, 3}}, {"bb", {3}}})
    module.register_parameter(name, torch::randn(shape) * 0.5, false);
  module.define(R"(
def features(self, x):
    skips: List[Tensor] = []
    a = torch.leaky_relu_(torch.instance_norm(torch.conv2d(x, self.w1, self.b1, [1, 1], [1, 1]), self.g1, self.h1, None, None, True, 0.1, 1e-5, False), 0.02)
    skips.append(a)
    b = torch.relu(torch.conv2d(a, self.w2, None, [2, 2]))
    c = torch.leaky_relu(torch.instance_norm(b, self.g2, self.h2, None, None, True, 0.1, 1e-5, False), 0.01)
    return torch.cat([torch.conv_transpose2d(c, self.wt, self.bt, [2, 2]), skips[-1]], 1)

def forward(self, x):
    return torch.conv2d(self.features(x), self.wa)

def fold_logits(self, x):
    return torch.stack([torch.conv2d(self.features(x), self.wa), torch.conv2d(self.features(x), self.wb, self.bb, [1, 1], [1, 1])], 0)
)");
  module.eval();
  auto frozen = torch::jit::freeze(module.clone(), std::vector<std::string>{"fold_logits"});
  std::string why_not;
  ASSERT_TRUE(RunMethodWithOnednn(frozen, "fold_logits", &why_not)) << why_not;
  ASSERT_TRUE(RunsAsOnednnNetwork(*frozen.get_method("fold_logits").graph()));
  c10::InferenceMode inference_mode;
  const auto input = torch::randn({3, 2, 20, 14});
  const auto expected = module.get_method("fold_logits")({input}).toTensor();
  const auto actual = frozen.get_method("fold_logits")({input}).toTensor();
  ASSERT_EQ(actual.sizes(), (std::vector<int64_t>{2, 3, 3, 20, 14}));
  EXPECT_LT((actual - expected).abs().max().item<double>(), 1e-4 * expected.abs().max().item<double>());
  EXPECT_GT((actual[0] - actual[1]).abs().max().item<double>(), 0.1);  // the heads differ, each in its place
}

// A graph with an operator the network does not run stays LibTorch's, and says which.
TEST(CpuModuleTest, OnednnNetworkLeavesOtherGraphsToLibTorch) {
  if (!OnednnNetworkBuilt()) GTEST_SKIP() << "built against LibTorch 2: no oneDNN network";
  auto frozen = torch::jit::freeze(SmallUNet());  // adds its skip: aten::add
  std::string why_not;
  EXPECT_FALSE(RunMethodWithOnednn(frozen, "forward", &why_not));
  EXPECT_EQ(why_not, "operator aten::add");
  EXPECT_FALSE(RunsAsOnednnNetwork(*frozen.get_method("forward").graph()));
}

// The masks of a small U-Net in bf16 against fp32 on a smooth phantom (a ball in a gradient).
TEST_F(InferenceTest, Bf16MasksMatchFp32OnASmallUNet) {
  if (!CpuHasNativeBf16()) GTEST_SKIP() << "this CPU has no bf16 arithmetic; bf16 is not tried";
  const auto directory = testing::WritePackage(dir_ / "unet", SmallUNet(), SegmentationManifest("unet", 3, 16));
  auto fp32 = LoadedModel::Load(directory, torch::kCPU, Precision::Fp32);
  auto bf16 = LoadedModel::Load(directory, torch::kCPU, Precision::Bf16);
  ASSERT_EQ(bf16.ActivePrecision(), Precision::Bf16) << bf16.PrecisionNote();
  const auto z = torch::linspace(-1, 1, 24).view({24, 1, 1}), y = torch::linspace(-1, 1, 28).view({1, 28, 1}),
             x = torch::linspace(-1, 1, 20).view({1, 1, 20});
  const auto image = ((x * x + y * y + z * z < 0.4).to(torch::kFloat32) * 2.0 + 0.5 * x + 0.2 * y).unsqueeze(0);
  PredictReport report;
  const auto expected = Predict(fp32, image, {}, report);
  const auto labels = Predict(bf16, image, {}, report);
  EXPECT_EQ(report.precision, "bf16");
  const double agreement = (labels == expected).to(torch::kDouble).mean().item<double>();
  EXPECT_GE(agreement, 0.99);
}

TEST_F(InferenceTest, ChangedWeightsAreRefusedBySha256) {
  const auto directory = WritePackage(dir_ / "m", testing::PointwiseModel(), SegmentationManifest("m", 3, 16));
  std::fstream file(directory / "model.pt", std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(200);
  file.put('\x7f');
  file.close();
  EXPECT_NE(LoadError(directory).find("sha256"), std::string::npos) << LoadError(directory);
}

TEST_F(InferenceTest, CorruptedModelFileIsRefusedEvenWithAMatchingDigest) {
  const auto directory = WritePackage(dir_ / "m", testing::PointwiseModel(), SegmentationManifest("m", 3, 16));
  const auto model_file = directory / "model.pt";
  std::string bytes = ReadFile(model_file);
  bytes.resize(bytes.size() / 2);  // a truncated download
  WriteFileAtomically(model_file, bytes);
  auto manifest = nlohmann::json::parse(ReadFile(directory / "manifest.json"));
  manifest["sha256"] = Sha256Hex(bytes);
  WriteFileAtomically(directory / "manifest.json", manifest.dump());
  EXPECT_NE(LoadError(directory).find("not a loadable TorchScript model"), std::string::npos) << LoadError(directory);
}

TEST_F(InferenceTest, ADifferentModelFailsTheGoldenVector) {
  const auto directory = WritePackage(dir_ / "m", testing::PointwiseModel(), SegmentationManifest("m", 3, 16));
  // Same architecture, one weight changed, digest updated: only the golden vector can tell.
  auto impostor = testing::ScriptModel(R"(
def forward(self, x):
    h = torch.relu(torch.conv3d(x, self.w[0:2].reshape([2, 1, 1, 1, 1]), self.w[2:4]))
    return torch.conv3d(h, self.w[4:10].reshape([3, 2, 1, 1, 1]), self.w[10:13])
)",
                                       torch::tensor({1.5f, -0.8f, 0.2f, 0.1f, 0.7f, -1.1f, 0.4f, 0.9f, -0.3f, 0.5f, 0.05f, -0.2f, 0.31f}));
  impostor.save((directory / "model.pt").string());
  auto manifest = nlohmann::json::parse(ReadFile(directory / "manifest.json"));
  manifest["sha256"] = Sha256File(directory / "model.pt");
  WriteFileAtomically(directory / "manifest.json", manifest.dump());
  EXPECT_NE(LoadError(directory).find("golden vector"), std::string::npos) << LoadError(directory);
}

TEST_F(InferenceTest, InvalidManifestsNameTheField) {
  const auto directory = WritePackage(dir_ / "m", testing::PointwiseModel(), SegmentationManifest("m", 3, 16));
  const auto original = nlohmann::json::parse(ReadFile(directory / "manifest.json"));
  const auto expect_error = [&](nlohmann::json manifest, const std::string& fragment) {
    WriteFileAtomically(directory / "manifest.json", manifest.dump());
    EXPECT_NE(LoadError(directory).find(fragment), std::string::npos) << LoadError(directory);
  };
  auto manifest = original;
  manifest["input"].erase("patch_size");
  expect_error(manifest, "'input.patch_size' is missing");
  manifest = original;
  manifest["output"]["activation"] = "relu";
  expect_error(manifest, "'output.activation' is 'relu'; expected one of softmax, sigmoid");
  manifest = original;
  manifest["input"]["orientation"] = "RAX";
  expect_error(manifest, "'input.orientation'");
  manifest = original;
  manifest["output"]["labels"][1]["value"] = 1;
  expect_error(manifest, "repeats another label's value");
  manifest = original;
  manifest["golden"]["samples"].erase(0);
  expect_error(manifest, "'golden.samples'");
  manifest = original;
  manifest["input"]["selector"] = {{"series_description", "hippo(crop"}};
  expect_error(manifest, "'input.selector.series_description' is not a valid regular expression");
  // An anatomical structure says its side (or that it has none, or that it is unknown): never a guess.
  manifest = original;
  manifest["output"]["labels"][0]["type"] = {{"code", "5366008"}, {"scheme", "SCT"}, {"meaning", "Hippocampus"}};
  expect_error(manifest, "'output.labels[0].laterality' is missing");
  manifest["output"]["labels"][0]["laterality"] = "both";
  expect_error(manifest, "'output.labels[0].laterality' is 'both'; expected one of unpaired, left, right, unknown");
  manifest["output"]["labels"][0]["laterality"] = "unknown";
  manifest["output"]["labels"][0]["modifier"] = {{"code", "255549009"}, {"scheme", "SCT"}};
  expect_error(manifest, "'output.labels[0].modifier.meaning' is missing");
  WriteFileAtomically(directory / "manifest.json", "{not json");
  EXPECT_NE(LoadError(directory).find("is not valid JSON"), std::string::npos);
  std::filesystem::remove(directory / "manifest.json");
  EXPECT_NE(LoadError(directory).find("is not a model package"), std::string::npos);
}

// A label's normal volume range is two finite mL values, low below high, on segmentation labels only;
// a bad one is refused at load naming the manifest and the field.
TEST_F(InferenceTest, NormalRangesAreCheckedAtLoad) {
  const auto directory = WritePackage(dir_ / "m", testing::PointwiseModel(), SegmentationManifest("m", 3, 16));
  const auto original = nlohmann::json::parse(ReadFile(directory / "manifest.json"));
  const std::string file = (directory / "manifest.json").string();
  // RANGE as JSON text, so that a number past a double's range can be written too.
  const auto with_range = [&](const std::string& range) {
    auto manifest = original;
    manifest["output"]["labels"][1]["normal_range_ml"] = "RANGE";
    std::string text = manifest.dump();
    text.replace(text.find("\"RANGE\""), 7, range);
    WriteFileAtomically(directory / "manifest.json", text);
  };
  with_range("[1.25, 3.5]");
  const auto manifest = model::LoadManifest(directory);
  EXPECT_FALSE(manifest.labels[0].normal_range_ml);
  ASSERT_TRUE(manifest.labels[1].normal_range_ml);
  EXPECT_EQ(*manifest.labels[1].normal_range_ml, (std::array<double, 2>{1.25, 3.5}));
  for (const char* bad : {"[3.5, 1.25]", "[2, 2]", "[-1, 2]", "[1]", "[1, \"2\"]", "\"1-2\""}) {
    with_range(bad);
    const std::string error = LoadError(directory);
    EXPECT_NE(error.find(file), std::string::npos) << bad << ": " << error;
    EXPECT_NE(error.find("'output.labels[1].normal_range_ml'"), std::string::npos) << bad << ": " << error;
  }
  with_range("[1, 1e400]");  // past a double: the JSON reader refuses it, naming the file
  EXPECT_NE(LoadError(directory).find(file + ": is not valid JSON"), std::string::npos) << LoadError(directory);
}

TEST_F(InferenceTest, MissingWeightsAreRefused) {
  const auto directory = WritePackage(dir_ / "m", testing::PointwiseModel(), SegmentationManifest("m", 3, 16));
  std::filesystem::remove(directory / "model.pt");
  EXPECT_NE(LoadError(directory).find("model.pt: is missing"), std::string::npos) << LoadError(directory);
}

TEST(DeviceTest, ParsesTheDeviceOption) {
  EXPECT_EQ(ParseDevice("cpu"), torch::Device(torch::kCPU));
  EXPECT_EQ(ParseDevice("auto").is_cuda(), torch::cuda::is_available());
  EXPECT_THROW(ParseDevice("gpu"), ConfigError);
  EXPECT_THROW(ParseDevice("cuda:x"), ConfigError);
  EXPECT_THROW(ParseDevice("cuda:99"), ConfigError);
  if (torch::cuda::is_available()) {
    EXPECT_EQ(ParseDevice("cuda:0"), torch::Device(torch::kCUDA, 0));
  }
}

// The library names its own settings and the value given; the command line names its flags (medpipe
// prints "--overlap: is 1.5; ...", tests/pipeline/cli_test.cpp).
TEST(DeviceTest, SettingErrorsNameTheSettingAndTheValueNotAFlag) {
  const auto error = [](const std::function<void()>& call) -> std::string {
    try {
      call();
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no ConfigError";
  };
  EXPECT_EQ(error([] { ParseDevice("tpu"); }), "device: 'tpu' is not one of auto, cpu, cuda, cuda:N");
  EXPECT_EQ(error([] { ParseDevice("cuda:x"); }), "device: 'cuda:x' is not cuda:N with a GPU number N");
  EXPECT_EQ(error([] { ParsePrecision("fp8"); }), "precision: 'fp8' is not one of fp32, fp16, bf16, auto");
  EXPECT_EQ(error([] { CheckPredictOptions({1.5, 2, false}); }).rfind("overlap: is 1.5; expected at least 0 and below 1", 0), 0u)
      << error([] { CheckPredictOptions({1.5, 2, false}); });
  EXPECT_EQ(error([] { CheckPredictOptions({0.5, 0, false}); }).rfind("batch_size: is 0; expected at least 1", 0), 0u)
      << error([] { CheckPredictOptions({0.5, 0, false}); });
  EXPECT_EQ(error([] { CheckPredictOptions({0, 1, true}); }), "no ConfigError");
}

// A 32 x 32 input [C=1, Z=1, H, W] with a bright 4 x 4 square at each (ROW, COLUMN).
torch::Tensor Squares(const std::vector<std::pair<int64_t, int64_t>>& corners) {
  auto image = torch::zeros({1, 1, 32, 32});
  for (const auto& [row, column] : corners)
    image.index_put_({0, 0, torch::indexing::Slice(row, row + 4), torch::indexing::Slice(column, column + 4)}, 1.0);
  return image;
}

// (row, column) of the heat map's maximum.
std::pair<int64_t, int64_t> Peak(const torch::Tensor& heatmap) {
  const int64_t at = heatmap.argmax().item<int64_t>();
  return {at / heatmap.size(1), at % heatmap.size(1)};
}

TEST_F(InferenceTest, GradCamPeaksOnTheRegionTheClassifierReads) {
  auto model = Package("left-half", testing::LeftHalfClassifier(), testing::ClassifierManifest("left-half", 32));
  // The same square on both sides; the model's "abnormal" logit reads the left half only.
  const auto explanation = Explain(model, Squares({{10, 4}, {10, 24}}), 1);
  EXPECT_EQ(explanation.method, "grad-cam");
  ASSERT_EQ(explanation.heatmap.sizes(), (std::vector<int64_t>{32, 32}));
  const auto [row, column] = Peak(explanation.heatmap);
  EXPECT_TRUE(row >= 9 && row <= 14 && column >= 3 && column <= 8) << row << ", " << column;
  EXPECT_FLOAT_EQ(explanation.heatmap.max().item<float>(), 1.0f);
  EXPECT_LT(explanation.heatmap.index({torch::indexing::Slice(10, 14), torch::indexing::Slice(25, 27)}).max().item<float>(), 0.05)
      << "the right square, which the model ignores, is lit";
}

TEST_F(InferenceTest, SaliencyPeaksOnTheWindowTheClassifierReads) {
  auto model = Package("window", testing::WindowEnergyClassifier(), testing::ClassifierManifest("window", 32));
  // One square inside the window (rows 8-15, columns 4-11) and one outside it.
  const auto explanation = Explain(model, Squares({{10, 6}, {22, 22}}), 1);
  EXPECT_EQ(explanation.method, "saliency");
  const auto [row, column] = Peak(explanation.heatmap);
  EXPECT_TRUE(row >= 10 && row <= 13 && column >= 6 && column <= 9) << row << ", " << column;
  EXPECT_EQ(explanation.heatmap.index({torch::indexing::Slice(22, 26), torch::indexing::Slice(22, 26)}).max().item<float>(), 0.0f);
  auto segmentation = Package("seg", testing::PointwiseModel(), SegmentationManifest("seg", 3, 8));
  EXPECT_THROW(Explain(segmentation, torch::zeros({1, 8, 8, 8}), 1), ModelError);
}

TEST_F(InferenceTest, EmbeddingsAreTheFeatureMapsSpatialMeans) {
  auto manifest = testing::ClassifierManifest("features", 8);
  manifest["input"]["spatial_dims"] = 3;
  manifest["input"]["patch_size"] = {8, 8, 8};
  manifest["golden"]["input_shape"] = {1, 1, 8, 8, 8};
  auto model = Package("features", testing::FeatureClassifier(), manifest);
  ASSERT_TRUE(model.HasFeatures());
  const auto image = torch::arange(512, torch::kFloat32).reshape({1, 8, 8, 8}) / 512;  // 0 .. 511/512
  const auto embedding = Embed(model, image);
  ASSERT_EQ(embedding.sizes(), (std::vector<int64_t>{3}));
  // Means of i/512, (i/512)^2 and max(i/512 - 0.5, 0) over i = 0..511.
  EXPECT_NEAR(embedding[0].item<double>(), 511.0 / 1024, 1e-6);
  EXPECT_NEAR(embedding[1].item<double>(), 511.0 * 1023 / 6 / (512.0 * 512), 1e-6);
  EXPECT_NEAR(embedding[2].item<double>(), 255.0 * 256 / 2 / 512 / 512, 1e-6);
  auto plain = Package("plain", testing::PointwiseModel(), SegmentationManifest("plain", 3, 8));
  EXPECT_FALSE(plain.HasFeatures());
  EXPECT_THROW(Embed(plain, torch::zeros({1, 8, 8, 8})), ModelError);
}

}  // namespace
}  // namespace medpipe::inference
