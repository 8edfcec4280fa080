// Each C++ step against scripts/lib/nnunet_inference.py (numpy/scipy, which reproduces nnU-Net) on
// synthetic arrays of odd shapes.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "medpipe/core/error.h"
#include "medpipe/nnunet/crop_to_nonzero.h"
#include "medpipe/nnunet/nnunet_case.h"
#include "medpipe/nnunet/nnunet_plan.h"
#include "medpipe/nnunet/normalization.h"
#include "medpipe/nnunet/patch_padding.h"
#include "medpipe/nnunet/resampling.h"
#include "reference_support.h"

namespace medpipe::nnunet::testing {
namespace {

using nlohmann::json;

// A shell (radius 4 to 7 around CENTRE) whose cavity binary_fill_holes fills, in channel C.
void AddShell(Array4& data, int64_t c, const Shape3& centre) {
  const Shape3& s = data.Shape();
  for (int64_t i = 0; i < s[0]; ++i)
    for (int64_t j = 0; j < s[1]; ++j)
      for (int64_t k = 0; k < s[2]; ++k) {
        const int64_t d = (i - centre[0]) * (i - centre[0]) + (j - centre[1]) * (j - centre[1]) + (k - centre[2]) * (k - centre[2]);
        if (d >= 16 && d <= 49) data.At(c, i, j, k) = static_cast<float>(1 + d);
      }
}

class NnunetReference : public ReferenceTest {};

TEST_F(NnunetReference, CropToNonzeroMatchesFilledMaskAndBox) {
  std::map<std::string, Array4> cases;
  cases["shell"] = Array4(2, {19, 23, 21});
  AddShell(cases["shell"], 0, {9, 11, 10});
  cases["shell"].At(1, 2, 20, 3) = -5;  // another channel widens the box
  cases["open_cup"] = Array4(1, {17, 18, 16});
  AddShell(cases["open_cup"], 0, {3, 9, 8});  // the cavity reaches the border: not filled
  cases["empty"] = Array4(1, {5, 6, 7});
  cases["sparse"] = RandomArray(1, {13, 11, 9}, 5, -1, 1);
  for (float& v : cases["sparse"].Values()) v = v > 0.8f ? v : 0.0f;
  for (const auto& [name, data] : cases) jobs_.push_back({{"op", "crop"}, {"name", name}, {"input", Save(name, data)}});
  const json results = Run();
  for (const auto& [name, data] : cases) {
    SCOPED_TRACE(name);
    const NonzeroCrop crop = FindNonzeroCrop(data);
    const Box3 box = BoxOf(results[name]["bbox"]);
    EXPECT_EQ(crop.box, box);
    const Array4 mask = Crop(Load(name + "_mask"), box);
    EXPECT_TRUE(std::equal(crop.mask.values.begin(), crop.mask.values.end(), mask.Values().begin()));
    EXPECT_EQ(crop.mask.shape, mask.Shape());
  }
}

TEST_F(NnunetReference, NormalizationMatchesNumpyFloat32) {
  Array4 data = SmoothArray(1, {23, 19, 26});
  AddShell(data, 0, {11, 9, 12});
  for (float& v : data.Values()) v = v > 40 ? v * 7 + 300 : 0.0f;  // a zero background around the object
  const json ct_props = {{"percentile_00_5", 310.5}, {"percentile_99_5", 820.25}, {"mean", 512.3}, {"std", 97.1}};
  const std::vector<std::tuple<std::string, std::string, bool, NormalizationScheme>> schemes{
      {"ct", "CTNormalization", false, NormalizationScheme::Ct},
      {"zscore", "ZScoreNormalization", false, NormalizationScheme::ZScore},
      {"zscore_mask", "ZScoreNormalization", true, NormalizationScheme::ZScore},
      {"rescale", "RescaleTo01Normalization", false, NormalizationScheme::RescaleTo01},
      {"rgb", "RGBTo01Normalization", false, NormalizationScheme::RgbTo01},
      {"none", "NoNormalization", false, NormalizationScheme::None}};
  const std::string input = Save("input", data);
  for (const auto& [name, scheme, use_mask, unused] : schemes)
    jobs_.push_back({{"op", "normalize"}, {"name", name}, {"input", input}, {"scheme", scheme}, {"use_mask", use_mask},
                     {"props", ct_props}});
  Run();
  const NonzeroCrop crop = FindNonzeroCrop(data);
  for (const auto& [name, scheme, use_mask, kind] : schemes) {
    ChannelNormalization settings{kind, use_mask, 310.5, 820.25, 512.3, 97.1};
    const Array4 normalized = Normalize(Crop(data, crop.box), crop.mask, {settings});
    const Difference d = Compare(normalized, Load(name));
    std::cout << "normalisation " << name << ": max abs difference " << d.max_abs << ", relative " << d.relative << "\n";
    EXPECT_LE(d.relative, 1e-6) << name;
    if (kind != NormalizationScheme::ZScore) {
      EXPECT_EQ(d.max_abs, 0.0) << name;
    }
  }
}

TEST_F(NnunetReference, NewShapeAndSeparateZMatchPython) {
  const std::vector<std::pair<Spacing3, Spacing3>> spacings{
      {{1, 1, 1}, {2, 2, 2}},       {{5, 1.2, 1.2}, {3, 1, 1}}, {{1, 1, 1}, {1, 1, 4}}, {{4, 4, 1}, {1, 1, 1}},
      {{0.7, 0.7, 2.5}, {1, 1, 1}}, {{1, 3.1, 1}, {1, 1, 1}},   {{2, 2, 6.5}, {1, 1, 3.5}}, {{3.0, 1.0, 1.0}, {3, 1, 1}}};
  const Shape3 shape{5, 7, 9};  // odd sizes: halves that round to even (5 * 1 / 2 = 2.5 -> 2, 7 / 2 = 3.5 -> 4)
  for (size_t i = 0; i < spacings.size(); ++i) {
    const auto& [current, target] = spacings[i];
    const std::string name = std::to_string(i);
    jobs_.push_back({{"op", "new_shape"}, {"name", "shape" + name}, {"shape", shape}, {"spacing", current}, {"target", target}});
    for (const json& force : {json(nullptr), json(true), json(false)})
      jobs_.push_back({{"op", "separate_z"}, {"name", "z" + name + force.dump()}, {"current", current}, {"target", target},
                       {"force", force}});
  }
  const json results = Run();
  for (size_t i = 0; i < spacings.size(); ++i) {
    const auto& [current, target] = spacings[i];
    const std::string name = std::to_string(i);
    EXPECT_EQ(NewShape(shape, current, target), ShapeOf(results["shape" + name]["shape"])) << name;
    for (const json& force : {json(nullptr), json(true), json(false)}) {
      const json expected = results["z" + name + force.dump()]["axis"];
      const auto axis = SeparateZAxis(current, target, force.is_null() ? std::nullopt : std::optional<bool>(force.get<bool>()), 3);
      EXPECT_EQ(axis ? json(*axis) : json(nullptr), expected) << name << " force " << force;
    }
  }
}

struct ResampleCase {
  std::string name;
  Array4 data;
  Shape3 new_shape;
  Spacing3 current;
  Spacing3 target;
  ResamplingSettings settings;
};

TEST_F(NnunetReference, ResamplingMatchesScipyZoom) {
  const std::vector<ResampleCase> cases{
      {"random_3d", RandomArray(1, {13, 17, 11}, 1), {20, 9, 15}, {1, 1, 1}, {1, 1, 1}, {3, 0, {}}},
      {"smooth_3d_up", SmoothArray(2, {9, 12, 10}), {19, 25, 21}, {1.1, 1, 0.9}, {0.5, 0.5, 0.5}, {3, 0, {}}},
      {"smooth_3d_down", SmoothArray(1, {31, 27, 18}), {15, 14, 9}, {1, 1, 1}, {2, 2, 2}, {3, 0, {}}},
      {"separate_z_current", SmoothArray(1, {7, 22, 19}), {12, 27, 23}, {5, 1.2, 1.2}, {3, 1, 1}, {3, 0, {}}},
      {"separate_z_same_depth", RandomArray(1, {6, 15, 14}, 2), {6, 20, 11}, {5, 1, 1}, {5, 0.75, 1.3}, {3, 0, {}}},
      {"separate_z_target", RandomArray(1, {16, 13, 12}, 3), {16, 13, 4}, {1, 1, 1}, {1, 1, 4}, {3, 0, {}}},
      {"tie_no_separate_z", RandomArray(1, {5, 6, 15}, 4), {11, 13, 9}, {4, 4, 1}, {2, 2, 2}, {3, 0, {}}},
      {"forced_separate_z", SmoothArray(1, {8, 10, 12}), {11, 13, 9}, {2, 1, 1}, {1, 1, 1}, {3, 0, true}},
      {"forced_joint", SmoothArray(1, {5, 10, 12}), {20, 13, 9}, {4, 1, 1}, {1, 1, 1}, {3, 0, false}},
      {"single_slice", RandomArray(1, {1, 10, 9}, 6), {3, 5, 14}, {1, 1, 1}, {1, 1, 1}, {3, 0, {}}},
      {"logits_order1", RandomArray(3, {12, 9, 14}, 7, -20, 20), {17, 20, 7}, {1, 1, 1}, {1, 1, 1}, {1, 0, {}}},
      {"logits_back_separate_z", RandomArray(4, {9, 24, 20}, 8, -20, 20), {4, 31, 25}, {3, 1, 1}, {6.5, 0.8, 0.8}, {1, 0, {}}},
      {"order_z_1", SmoothArray(1, {6, 12, 10}), {11, 9, 13}, {5, 1, 1}, {3, 1, 1}, {3, 1, {}}},
  };
  for (const auto& c : cases)
    jobs_.push_back({{"op", "resample"}, {"name", c.name}, {"input", Save(c.name + "_in", c.data)}, {"new_shape", c.new_shape},
                     {"current", c.current}, {"target", c.target}, {"order", c.settings.order}, {"order_z", c.settings.order_z},
                     {"force", c.settings.force_separate_z ? json(*c.settings.force_separate_z) : json(nullptr)}});
  Run();
  for (const auto& c : cases) {
    const Difference d = Compare(Resample(c.data, c.new_shape, c.current, c.target, c.settings, 3, 2), Load(c.name));
    std::cout << "resampling " << c.name << ": max abs difference " << d.max_abs << ", relative " << d.relative << "\n";
    EXPECT_LE(d.relative, 1e-5) << c.name;
  }
}

TEST_F(NnunetReference, PaddingToPatchIsCentredAndUndone) {
  const Array4 data = RandomArray(2, {7, 30, 5}, 9);
  const Shape3 patch{12, 16, 8};
  jobs_.push_back({{"op", "pad"}, {"name", "padded"}, {"input", Save("data", data)}, {"patch", patch}});
  const json results = Run();
  const Array4 padded = PadToPatch(data, patch);
  EXPECT_EQ(Compare(padded, Load("padded")).max_abs, 0.0);
  EXPECT_EQ(PaddingFor(data.Shape(), patch).region, BoxOf(results["padded"]["region"]));
  EXPECT_EQ(Compare(Crop(padded, PaddingFor(data.Shape(), patch).region), data).max_abs, 0.0);
}

class NnunetPlanTest : public medpipe::testing::TempDirTest {
 protected:
  json Valid() const {
    const json resampling = {{"fn", "resample_data_or_seg_to_shape"},
                             {"kwargs", {{"is_seg", false}, {"order", 3}, {"order_z", 0}, {"force_separate_z", nullptr}}}};
    json probabilities = resampling;
    probabilities["kwargs"]["order"] = 1;
    return {{"format", "medpipe-nnunet-export/1"},
            {"image_reader_writer", "NibabelIO"},
            {"channel_names", {{"0", "CT"}}},
            {"transpose_forward", {2, 0, 1}},
            {"transpose_backward", {1, 2, 0}},
            {"spacing", {5.0, 1.2, 1.2}},
            {"patch_size", {32, 96, 96}},
            {"crop_to_nonzero", true},
            {"normalization",
             {{{"scheme", "CTNormalization"},
               {"use_mask_for_norm", false},
               {"intensity_properties", {{"percentile_00_5", -1000}, {"percentile_99_5", 400.5}, {"mean", 50}, {"std", 120}}}}}},
            {"resampling", {{"separate_z_anisotropy_threshold", 3}, {"data", resampling}, {"probabilities", probabilities}}},
            {"output", {{"channels", 7}}},
            {"has_regions", false},
            {"regions_class_order", nullptr},
            {"inference",
             {{"tile_step_size", 0.5},
              {"use_gaussian", true},
              {"gaussian_sigma_scale", 0.125},
              {"gaussian_value_scaling_factor", 10},
              {"allowed_mirroring_axes", {0, 2}}}}};
  }
  NnunetPlan Read(const json& plan) const {
    std::ofstream(dir_ / "nnunet.json") << plan.dump();
    return ReadNnunetPlan(dir_);
  }
  // The message of the ModelError reading PLAN throws.
  std::string Error(const json& plan) const {
    try {
      Read(plan);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "no error";
  }
};

TEST_F(NnunetPlanTest, ReadsTheExportedFields) {
  const NnunetPlan plan = Read(Valid());
  EXPECT_EQ(plan.transpose_forward, (Axes3{2, 0, 1}));
  EXPECT_EQ(plan.spacing, (Spacing3{5.0, 1.2, 1.2}));
  EXPECT_EQ(plan.patch_size, (Shape3{32, 96, 96}));
  ASSERT_EQ(plan.normalization.size(), 1u);
  EXPECT_EQ(plan.normalization[0].scheme, NormalizationScheme::Ct);
  EXPECT_EQ(plan.normalization[0].percentile_99_5, 400.5);
  EXPECT_EQ(plan.data.order, 3);
  EXPECT_EQ(plan.probabilities.order, 1);
  EXPECT_FALSE(plan.data.force_separate_z.has_value());
  EXPECT_EQ(plan.output_channels, 7);
  EXPECT_EQ(plan.inference.tile_step_size, 0.5);
  EXPECT_EQ(plan.inference.mirror_axes, (std::vector<int>{0, 2}));
  EXPECT_FALSE(plan.has_regions);
  json regions = Valid();
  regions["has_regions"] = true;
  regions["regions_class_order"] = {1, 2, 3, 4, 5, 6, 7};
  regions["inference"]["allowed_mirroring_axes"] = nullptr;
  const NnunetPlan region_plan = Read(regions);
  EXPECT_EQ(region_plan.regions_class_order, (std::vector<int>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(region_plan.inference.mirror_axes.empty());
}

// nnU-Net's 2d configurations: 2-D spacing and patch become d1, d2; d0 keeps each image's spacing, the patch's
// d0 is one slice; mirror axes (of the 2-D patch) count from d1. (The slice-by-slice window is checked end to end
// by configurations_test.py.)
TEST_F(NnunetPlanTest, TwoDimensionalConfigurationsRunSliceBySlice) {
  json plan = Valid();
  plan["spacing"] = {1.2, 1.2};
  plan["patch_size"] = {80, 256};
  plan["inference"]["allowed_mirroring_axes"] = {0, 1};
  const NnunetPlan two_d = Read(plan);
  EXPECT_TRUE(two_d.slice_by_slice);
  EXPECT_EQ(two_d.patch_size, (Shape3{1, 80, 256}));
  EXPECT_EQ(two_d.inference.mirror_axes, (std::vector<int>{1, 2}));
  EXPECT_EQ(TargetSpacing(two_d, {3.0, 0.8, 0.7}), (Spacing3{3.0, 1.2, 1.2}));
  EXPECT_EQ(TargetSpacing(Read(Valid()), {3.0, 0.8, 0.7}), (Spacing3{5.0, 1.2, 1.2}));
  plan["inference"]["allowed_mirroring_axes"] = {0, 2};
  EXPECT_NE(Error(plan).find("'inference/allowed_mirroring_axes/1' is 2; expected an integer from 0 to 1"), std::string::npos)
      << Error(plan);
  plan = Valid();
  plan["patch_size"] = {80, 256};
  EXPECT_NE(Error(plan).find("'spacing' is [5.0,1.2,1.2]; expected 2 entries, as patch_size has"), std::string::npos)
      << Error(plan);
}

TEST_F(NnunetPlanTest, ErrorsNameTheFieldAndWhatWasExpected) {
  json plan = Valid();
  plan["resampling"]["data"]["kwargs"]["order"] = 2;
  EXPECT_NE(Error(plan).find("'resampling/data/kwargs/order' is 2; expected 0, 1 or 3"), std::string::npos) << Error(plan);
  plan = Valid();
  plan["transpose_backward"] = {0, 1, 2};
  EXPECT_NE(Error(plan).find("'transpose_backward' is [0,1,2]; expected the inverse of transpose_forward"), std::string::npos);
  plan = Valid();
  plan["spacing"] = {1.2, 1.2};
  EXPECT_NE(Error(plan).find("'spacing' is [1.2,1.2]; expected 3 entries"), std::string::npos);
  plan = Valid();
  plan["normalization"][0].erase("intensity_properties");
  EXPECT_NE(Error(plan).find("'normalization/0/intensity_properties/percentile_00_5' is missing"), std::string::npos);
  plan = Valid();
  plan["normalization"][0]["scheme"] = "Custom";
  EXPECT_NE(Error(plan).find("expected one of CTNormalization"), std::string::npos);
  EXPECT_NE(Error(plan).find(dir_.string() + "/nnunet.json"), std::string::npos);
  plan = Valid();
  plan["inference"]["allowed_mirroring_axes"] = {0, 3};
  EXPECT_NE(Error(plan).find("'inference/allowed_mirroring_axes/1' is 3; expected an integer from 0 to 2"), std::string::npos);
  plan = Valid();
  plan["has_regions"] = true;
  plan["regions_class_order"] = {1, 2};
  EXPECT_NE(Error(plan).find("'regions_class_order' is [1,2]; expected one label per output channel"), std::string::npos);
}

// Region models as nnU-Net's LabelManager.convert_probabilities_to_segmentation: where sigmoid(logit) > 0.5, channel
// c paints regions_class_order[c], later channels over earlier (posterior outside whole is still painted). The
// logits are float16 values there; torch.sigmoid(x) > 0.5 first holds at x = 2^-23 (compared once on every finite
// float16 value), so 2^-24 and 0 stay background. Same spacing and shape: the resampling leaves the logits as they are.
TEST(NnunetRegions, PaintsRegionsInRegionsClassOrder) {
  NnunetPlan plan;
  plan.transpose_forward = plan.transpose_backward = {0, 1, 2};
  plan.probabilities.order = 1;
  plan.separate_z_anisotropy_threshold = 3;
  plan.has_regions = true;
  plan.output_channels = 2;
  plan.regions_class_order = {1, 2};
  //                               both  whole  post.  neither  threshold...
  const std::vector<float> whole = {3.0f, 3.0f, -3.0f, -3.0f, 0x1p-23f, 0x1p-24f, 0.0f};
  const std::vector<float> posterior = {3.0f, -3.0f, 3.0f, -3.0f, -1.0f, -1.0f, 0.0f};
  const Shape3 shape{1, 1, static_cast<int64_t>(whole.size())};
  Array4 logits(2, shape);
  std::copy(whole.begin(), whole.end(), logits.Channel(0));
  std::copy(posterior.begin(), posterior.end(), logits.Channel(1));
  PreparedCase prepared;
  prepared.transposed_shape = shape;
  prepared.crop = {{0, 0, 0}, shape};
  prepared.spacing = prepared.target_spacing = {1.0, 1.0, 1.0};
  EXPECT_EQ(LabelsFromLogits(logits, prepared, plan, 1), (std::vector<uint8_t>{2, 1, 2, 0, 1, 0, 0}));
  plan.regions_class_order = {2, 1};
  EXPECT_EQ(LabelsFromLogits(logits, prepared, plan, 1), (std::vector<uint8_t>{1, 2, 1, 0, 2, 0, 0}));
}

}  // namespace
}  // namespace medpipe::nnunet::testing
