#include "medpipe/nnunet/nnunet_plan.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "medpipe/core/error.h"

namespace medpipe::nnunet {

namespace {

using nlohmann::json;

constexpr char kFormat[] = "medpipe-nnunet-export/1";

// Fields addressed by JSON pointer ("resampling/data/kwargs/order"); every error names the file and field.
class PlanReader {
 public:
  PlanReader(std::string file, json root) : file_(std::move(file)), root_(std::move(root)) {}

  [[noreturn]] void Fail(const std::string& field, const json& actual, const std::string& expected) const {
    throw ModelError(file_, "'" + field + "' is " + (actual.is_null() ? "missing or null" : actual.dump()) +
                                "; expected " + expected + " (re-export with scripts/nnunet_export.py)");
  }
  const json& At(const std::string& field) const {
    static const json missing;
    const json::json_pointer pointer("/" + field);
    return root_.contains(pointer) ? root_.at(pointer) : missing;
  }
  double Number(const std::string& field) const {
    const json& value = At(field);
    if (!value.is_number()) Fail(field, value, "a number");
    return value.get<double>();
  }
  int64_t Integer(const std::string& field, int64_t low, int64_t high) const {
    const json& value = At(field);
    if (!value.is_number_integer() || value.get<int64_t>() < low || value.get<int64_t>() > high)
      Fail(field, value, "an integer from " + std::to_string(low) + " to " + std::to_string(high));
    return value.get<int64_t>();
  }
  bool Bool(const std::string& field) const {
    const json& value = At(field);
    if (!value.is_boolean()) Fail(field, value, "true or false");
    return value.get<bool>();
  }
  template <typename T>
  T Choice(const std::string& field, const std::vector<std::pair<std::string, T>>& choices) const {
    const json& value = At(field);
    std::string names;
    for (const auto& [name, choice] : choices) {
      if (value == name) return choice;
      names += (names.empty() ? "" : ", ") + name;
    }
    Fail(field, value, "one of " + names);
  }
  // Three entries of an array, each read by ITEM(field + "/" + i).
  template <typename T, typename Item>
  std::array<T, 3> Triple(const std::string& field, const Item& item) const {
    return Spatial<T>(field, 3, T{}, item);
  }
  // DIMS (2 or 3) entries of an array as the last DIMS of three, each read by ITEM(field + "/" + i);
  // FIRST fills d0 when there are two.
  template <typename T, typename Item>
  std::array<T, 3> Spatial(const std::string& field, size_t dims, T first, const Item& item) const {
    const json& value = At(field);
    if (!value.is_array() || value.size() != dims)
      Fail(field, value, std::to_string(dims) + " entries, as patch_size has");
    std::array<T, 3> values{first, first, first};
    for (size_t i = 0; i < dims; ++i) values[3 - dims + i] = item(field + "/" + std::to_string(i));
    return values;
  }

 private:
  std::string file_;
  json root_;
};

Axes3 Permutation(const PlanReader& reader, const std::string& field) {
  const Axes3 axes =
      reader.Triple<int>(field, [&](const std::string& f) { return static_cast<int>(reader.Integer(f, 0, 2)); });
  if (!std::is_permutation(axes.begin(), axes.end(), Axes3{0, 1, 2}.begin()))
    reader.Fail(field, reader.At(field), "a permutation of 0, 1, 2");
  return axes;
}

ChannelNormalization ReadNormalization(const PlanReader& reader, const std::string& field) {
  ChannelNormalization n;
  n.scheme = reader.Choice<NormalizationScheme>(field + "/scheme", {{"CTNormalization", NormalizationScheme::Ct},
                                                                    {"ZScoreNormalization", NormalizationScheme::ZScore},
                                                                    {"NoNormalization", NormalizationScheme::None},
                                                                    {"RescaleTo01Normalization", NormalizationScheme::RescaleTo01},
                                                                    {"RGBTo01Normalization", NormalizationScheme::RgbTo01}});
  n.use_mask_for_norm = reader.Bool(field + "/use_mask_for_norm");
  if (n.scheme != NormalizationScheme::Ct) return n;
  const std::string properties = field + "/intensity_properties/";
  n.percentile_00_5 = reader.Number(properties + "percentile_00_5");
  n.percentile_99_5 = reader.Number(properties + "percentile_99_5");
  n.mean = reader.Number(properties + "mean");
  n.std = reader.Number(properties + "std");
  if (n.percentile_00_5 > n.percentile_99_5)
    reader.Fail(properties + "percentile_99_5", n.percentile_99_5, "at least percentile_00_5");
  return n;
}

ResamplingSettings ReadResampling(const PlanReader& reader, const std::string& field) {
  reader.Choice<int>(field + "/fn", {{"resample_data_or_seg_to_shape", 0}});
  const std::string kwargs = field + "/kwargs/";
  if (reader.Bool(kwargs + "is_seg")) reader.Fail(kwargs + "is_seg", true, "false");
  const auto order = [&](const std::string& f) {
    const int64_t value = reader.Integer(f, 0, 5);
    if (value == 2 || value > 3) reader.Fail(f, value, "0, 1 or 3 (the spline orders medpipe implements)");
    return static_cast<int>(value);
  };
  ResamplingSettings settings;
  settings.order = order(kwargs + "order");
  settings.order_z = reader.At(kwargs + "order_z").is_null() ? 0 : order(kwargs + "order_z");
  if (!reader.At(kwargs + "force_separate_z").is_null()) settings.force_separate_z = reader.Bool(kwargs + "force_separate_z");
  return settings;
}

// Mirror axes are counted in the network's frame: from d1 for a 2-D network (FIRST_AXIS 1).
InferenceSettings ReadInference(const PlanReader& reader, int first_axis) {
  InferenceSettings settings;
  settings.tile_step_size = reader.Number("inference/tile_step_size");
  if (!(settings.tile_step_size > 0 && settings.tile_step_size <= 1))
    reader.Fail("inference/tile_step_size", settings.tile_step_size, "a fraction of the patch in (0, 1]");
  settings.use_gaussian = reader.Bool("inference/use_gaussian");
  settings.gaussian_sigma_scale = reader.Number("inference/gaussian_sigma_scale");
  if (!(settings.gaussian_sigma_scale > 0))
    reader.Fail("inference/gaussian_sigma_scale", settings.gaussian_sigma_scale, "a positive number");
  settings.gaussian_value_scaling = reader.Number("inference/gaussian_value_scaling_factor");
  if (!(settings.gaussian_value_scaling > 0))
    reader.Fail("inference/gaussian_value_scaling_factor", settings.gaussian_value_scaling, "a positive number");
  const json& axes = reader.At("inference/allowed_mirroring_axes");
  if (axes.is_null()) return settings;
  if (!axes.is_array() || axes.size() > static_cast<size_t>(3 - first_axis))
    reader.Fail("inference/allowed_mirroring_axes", axes, "null or up to one axis per network dimension");
  for (size_t i = 0; i < axes.size(); ++i)
    settings.mirror_axes.push_back(
        first_axis +
        static_cast<int>(reader.Integer("inference/allowed_mirroring_axes/" + std::to_string(i), 0, 2 - first_axis)));
  return settings;
}

std::vector<int> ReadRegionsClassOrder(const PlanReader& reader, int64_t channels) {
  const json& order = reader.At("regions_class_order");
  if (!order.is_array() || static_cast<int64_t>(order.size()) != channels)
    reader.Fail("regions_class_order", order, "one label per output channel (a region model)");
  std::vector<int> labels;
  for (size_t i = 0; i < order.size(); ++i)
    labels.push_back(static_cast<int>(reader.Integer("regions_class_order/" + std::to_string(i), 1, 255)));
  return labels;
}

}  // namespace

Spacing3 TargetSpacing(const NnunetPlan& plan, const Spacing3& image) {
  Spacing3 target = plan.spacing;
  if (plan.slice_by_slice) target[0] = image[0];
  return target;
}

NnunetPlan ReadNnunetPlan(const std::filesystem::path& dir) {
  const std::string file = (dir / "nnunet.json").string();
  std::ifstream in(file);
  if (!in) throw ModelError(file, "cannot be read; export the nnU-Net results folder with scripts/nnunet_export.py");
  json root;
  try {
    root = json::parse(in);
  } catch (const json::exception& e) {
    throw ModelError(file, std::string("is not valid JSON: ") + e.what());
  }
  const PlanReader reader(file, std::move(root));
  reader.Choice<int>("format", {{kFormat, 0}});

  NnunetPlan plan;
  plan.image_reader_writer = reader.Choice<std::string>(
      "image_reader_writer",
      {{"NibabelIO", "NibabelIO"}, {"SimpleITKIO", "SimpleITKIO"}, {"NibabelIOWithReorient", "NibabelIOWithReorient"}});
  plan.transpose_forward = Permutation(reader, "transpose_forward");
  plan.transpose_backward = Permutation(reader, "transpose_backward");
  for (int axis = 0; axis < 3; ++axis)
    if (plan.transpose_backward[plan.transpose_forward[axis]] != axis)
      reader.Fail("transpose_backward", reader.At("transpose_backward"), "the inverse of transpose_forward");
  const json& patch = reader.At("patch_size");
  if (!patch.is_array() || (patch.size() != 2 && patch.size() != 3))
    reader.Fail("patch_size", patch, "2 entries (a 2d configuration) or 3");
  const size_t dims = patch.size();
  plan.slice_by_slice = dims == 2;
  plan.spacing = reader.Spatial<double>("spacing", dims, 0.0, [&](const std::string& f) {
    const double value = reader.Number(f);
    if (!(value > 0)) reader.Fail(f, value, "a positive spacing in mm");
    return value;
  });
  plan.patch_size =
      reader.Spatial<int64_t>("patch_size", dims, 1, [&](const std::string& f) { return reader.Integer(f, 1, 4096); });
  if (!reader.Bool("crop_to_nonzero")) reader.Fail("crop_to_nonzero", false, "true");

  const json& channels = reader.At("channel_names");
  if (!channels.is_object() || channels.empty()) reader.Fail("channel_names", channels, "an object of channel names");
  plan.input_channels = static_cast<int64_t>(channels.size());
  const json& normalization = reader.At("normalization");
  if (!normalization.is_array() || static_cast<int64_t>(normalization.size()) != plan.input_channels)
    reader.Fail("normalization", normalization, "one entry per channel of channel_names");
  for (size_t c = 0; c < normalization.size(); ++c)
    plan.normalization.push_back(ReadNormalization(reader, "normalization/" + std::to_string(c)));

  plan.separate_z_anisotropy_threshold = reader.Number("resampling/separate_z_anisotropy_threshold");
  plan.data = ReadResampling(reader, "resampling/data");
  plan.probabilities = ReadResampling(reader, "resampling/probabilities");
  plan.output_channels = reader.Integer("output/channels", 1, 1 << 16);
  plan.inference = ReadInference(reader, plan.slice_by_slice ? 1 : 0);
  plan.has_regions = reader.Bool("has_regions");
  if (plan.has_regions) {
    plan.regions_class_order = ReadRegionsClassOrder(reader, plan.output_channels);
  } else if (plan.output_channels < 2 || plan.output_channels > 256) {
    reader.Fail("output/channels", plan.output_channels, "2 to 256 (background and up to 255 labels)");
  }
  return plan;
}

}  // namespace medpipe::nnunet
