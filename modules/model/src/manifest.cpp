#include "medpipe/model/manifest.h"

#include <algorithm>
#include <cmath>
#include <regex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "medpipe/core/error.h"
#include "medpipe/core/files.h"

namespace medpipe::model {
namespace {

using nlohmann::json;

// Field access that names the manifest and the JSON path in every error.
class Reader {
 public:
  Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void Fail(const std::string& path, const std::string& reason) const {
    throw ModelError(file_, "'" + path + "' " + reason);
  }
  const json& Get(const json& object, const std::string& path, const char* key) const {
    if (!object.is_object() || !object.contains(key)) Fail(path + key, "is missing");
    return object.at(key);
  }
  std::string String(const json& object, const std::string& path, const char* key) const {
    const json& value = Get(object, path, key);
    if (!value.is_string() || value.get<std::string>().empty()) Fail(path + key, "must be a non-empty string");
    return value.get<std::string>();
  }
  std::string OptionalString(const json& object, const char* key) const {
    return object.contains(key) && object.at(key).is_string() ? object.at(key).get<std::string>() : "";
  }
  double Number(const json& value, const std::string& path) const {
    if (!value.is_number()) Fail(path, "must be a number");
    return value.get<double>();
  }
  template <size_t N>
  std::array<double, N> Numbers(const json& value, const std::string& path) const {
    if (!value.is_array() || value.size() != N) Fail(path, "must be an array of " + std::to_string(N) + " numbers");
    std::array<double, N> out{};
    for (size_t i = 0; i < N; ++i) out[i] = Number(value[i], path);
    return out;
  }
  std::vector<int64_t> Shape(const json& value, const std::string& path) const {
    if (!value.is_array() || value.empty()) Fail(path, "must be a non-empty array of positive integers");
    std::vector<int64_t> shape;
    for (const auto& item : value) {
      if (!item.is_number_integer() || item.get<int64_t>() <= 0 || item.get<int64_t>() > 4096)
        Fail(path, "must hold positive integers up to 4096");
      shape.push_back(item.get<int64_t>());
    }
    return shape;
  }
  template <typename Enum>
  Enum Choice(const json& object, const std::string& path, const char* key,
              const std::vector<std::pair<const char*, Enum>>& choices) const {
    const std::string text = String(object, path, key);
    std::string names;
    for (const auto& [name, value] : choices) {
      if (text == name) return value;
      names += std::string(names.empty() ? "" : ", ") + name;
    }
    Fail(path + key, "is '" + text + "'; expected one of " + names);
  }

 private:
  std::string file_;
};

// Axis letters in the "towards" convention of nibabel and dcm2niix: RAS = right, anterior, superior.
bool IsOrientationCode(const std::string& code) {
  if (code.size() != 3) return false;
  std::set<char> axes;
  for (char c : code) {
    const std::string letters = "LRPAIS";
    const auto at = letters.find(c);
    if (at == std::string::npos) return false;
    axes.insert(static_cast<char>(at / 2));
  }
  return axes.size() == 3;
}

Normalisation ReadNormalisation(const Reader& reader, const json& node) {
  const std::string path = "input.normalisation.";
  Normalisation n;
  n.scheme = reader.Choice<Normalisation::Scheme>(node, path, "scheme",
                                                  {{"ct", Normalisation::Scheme::Ct},
                                                   {"zscore", Normalisation::Scheme::ZScore},
                                                   {"percentile", Normalisation::Scheme::Percentile},
                                                   {"minmax", Normalisation::Scheme::MinMax}});
  if (n.scheme == Normalisation::Scheme::Ct) {
    const auto clip = reader.Numbers<2>(reader.Get(node, path, "clip"), path + "clip");
    n.lower = clip[0];
    n.upper = clip[1];
    n.mean = reader.Number(reader.Get(node, path, "mean"), path + "mean");
    n.std = reader.Number(reader.Get(node, path, "std"), path + "std");
    if (!(n.std > 0)) reader.Fail(path + "std", "must be positive");
  } else if (n.scheme == Normalisation::Scheme::Percentile) {
    const auto range = reader.Numbers<2>(reader.Get(node, path, "percentiles"), path + "percentiles");
    n.lower = range[0];
    n.upper = range[1];
    if (!(0 <= n.lower && n.lower < n.upper && n.upper <= 100)) reader.Fail(path + "percentiles", "must be 0 <= low < high <= 100");
  }
  if (n.lower > n.upper) reader.Fail(path + "clip", "must be [low, high]");
  return n;
}

Code ReadCode(const Reader& reader, const json& node, const std::string& path) {
  if (!node.is_object()) reader.Fail(path, "must be an object with code, scheme and meaning");
  return {reader.String(node, path + ".", "code"), reader.String(node, path + ".", "scheme"),
          reader.String(node, path + ".", "meaning")};
}

// Two finite volumes, low below high: a range the cohort plots can flag against.
std::array<double, 2> ReadNormalRange(const Reader& reader, const json& node, const std::string& path) {
  const auto range = reader.Numbers<2>(node, path);
  if (!std::isfinite(range[0]) || !std::isfinite(range[1]) || !(0 <= range[0] && range[0] < range[1]))
    reader.Fail(path, "must be [low, high] in mL with 0 <= low < high");
  return range;
}

// Anatomical structures must say their side, or that they have none or that it is unknown: a default
// would be a guess. Other labels (lesions, tissue) default to unpaired.
Laterality ReadLaterality(const Reader& reader, const json& item, const std::string& at, const Code& category) {
  const bool anatomical = category.value.empty() || IsAnatomicalCategory(category);
  if (!item.contains("laterality")) {
    if (anatomical && item.contains("type"))
      reader.Fail(at + "laterality", "is missing: an anatomical structure says unpaired, left, right or unknown");
    return Laterality::Unpaired;
  }
  return reader.Choice<Laterality>(item, at, "laterality",
                                   {{"unpaired", Laterality::Unpaired},
                                    {"left", Laterality::Left},
                                    {"right", Laterality::Right},
                                    {"unknown", Laterality::Unknown}});
}

std::vector<Label> ReadLabels(const Reader& reader, const json& output, Task task) {
  const bool segmentation = task == Task::Segmentation;
  const char* key = segmentation ? "labels" : "classes";
  const std::string path = std::string("output.") + key;
  const json& list = reader.Get(output, "output.", key);
  if (!list.is_array() || list.empty() || list.size() > 255) reader.Fail(path, "must list 1 to 255 entries");
  std::vector<Label> labels;
  std::set<int> values;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& item = list[i];
    const std::string at = path + "[" + std::to_string(i) + "].";
    Label label;
    label.name = reader.String(item, at, "name");
    label.value = static_cast<int>(i);
    if (segmentation) {
      const json& value = reader.Get(item, at, "value");
      if (!value.is_number_integer() || value.get<int>() < 1 || value.get<int>() > 255)
        reader.Fail(at + "value", "must be an integer from 1 to 255 (0 is background)");
      label.value = value.get<int>();
      if (item.contains("colour")) {
        const auto colour = reader.Numbers<3>(item.at("colour"), at + "colour");
        for (int c = 0; c < 3; ++c) label.colour[c] = static_cast<int>(colour[c]);
      }
      if (item.contains("category")) label.category = ReadCode(reader, item.at("category"), at + "category");
      if (item.contains("type")) label.type = ReadCode(reader, item.at("type"), at + "type");
      if (item.contains("modifier")) label.modifier = ReadCode(reader, item.at("modifier"), at + "modifier");
      label.laterality = ReadLaterality(reader, item, at, label.category);
      if (item.contains("normal_range_ml"))
        label.normal_range_ml = ReadNormalRange(reader, item.at("normal_range_ml"), at + "normal_range_ml");
    } else if (item.contains("normal_range_ml")) {
      reader.Fail(at + "normal_range_ml", "applies to segmentation labels only");
    } else if (item.contains("code")) {
      label.type = ReadCode(reader, item.at("code"), at + "code");
    }
    if (!values.insert(label.value).second) reader.Fail(at + "value", "repeats another label's value");
    if (!names.insert(label.name).second) reader.Fail(at + "name", "repeats another label's name");
    labels.push_back(label);
  }
  return labels;
}

GoldenVector ReadGolden(const Reader& reader, const json& node) {
  const std::string path = "golden.";
  GoldenVector golden;
  golden.input_shape = reader.Shape(reader.Get(node, path, "input_shape"), path + "input_shape");
  golden.output_shape = reader.Shape(reader.Get(node, path, "output_shape"), path + "output_shape");
  const json& stride = reader.Get(node, path, "stride");
  if (!stride.is_number_integer() || stride.get<int64_t>() < 1) reader.Fail(path + "stride", "must be a positive integer");
  golden.stride = stride.get<int64_t>();
  const json& samples = reader.Get(node, path, "samples");
  if (!samples.is_array() || samples.empty()) reader.Fail(path + "samples", "must be a non-empty array of numbers");
  for (const auto& value : samples) golden.samples.push_back(reader.Number(value, path + "samples"));
  golden.tolerance = reader.Number(reader.Get(node, path, "tolerance"), path + "tolerance");
  int64_t count = 1;
  for (int64_t d : golden.output_shape) count *= d;
  if (static_cast<int64_t>(golden.samples.size()) != (count + golden.stride - 1) / golden.stride)
    reader.Fail(path + "samples", "must hold output.flatten()[::stride] for output_shape");
  return golden;
}

// The input fields of medpipe's own preprocessing (geometry, normalisation, test-time flips).
void ReadModelInput(const Reader& reader, const json& input, Manifest& m) {
  if (input.contains("orientation") && !input.at("orientation").is_null()) {
    m.orientation = reader.String(input, "input.", "orientation");
    if (!IsOrientationCode(m.orientation)) reader.Fail("input.orientation", "must be three axis letters such as RAS or LPS");
  }
  if (input.contains("spacing_mm") && !input.at("spacing_mm").is_null()) {
    m.spacing_mm = reader.Numbers<3>(input.at("spacing_mm"), "input.spacing_mm");
    for (double s : *m.spacing_mm)
      if (!(s > 0 && s < 100)) reader.Fail("input.spacing_mm", "must be positive millimetres below 100");
  }
  const auto patch = reader.Shape(reader.Get(input, "input.", "patch_size"), "input.patch_size");
  if (static_cast<int>(patch.size()) != m.spatial_dims) reader.Fail("input.patch_size", "must have spatial_dims entries (x, y[, z])");
  for (int a = 0; a < m.spatial_dims; ++a) m.patch_size[a] = patch[a];
  if (input.contains("interpolation"))
    m.interpolation = reader.Choice<Interpolation>(input, "input.", "interpolation",
                                                   {{"linear", Interpolation::Linear}, {"bspline", Interpolation::BSpline}});
  m.normalisation = ReadNormalisation(reader, reader.Get(input, "input.", "normalisation"));
  if (input.contains("mirror_axes")) {
    for (const auto& axis : input.at("mirror_axes")) {
      if (!axis.is_number_integer() || axis.get<int>() < 0 || axis.get<int>() >= m.spatial_dims)
        reader.Fail("input.mirror_axes", "must hold spatial axis numbers (0 = x, 1 = y, 2 = z)");
      m.mirror_axes.push_back(axis.get<int>());
    }
  }
}

VolumeRule ReadVolumeRule(const Reader& reader, const json& node) {
  const std::string path = "input.volume";
  const std::string expected = "must be \"first\", {\"index\": N} or {\"b_value\": B}";
  VolumeRule rule;
  if (node.is_string()) {
    if (node.get<std::string>() != "first") reader.Fail(path, "is '" + node.get<std::string>() + "'; " + expected);
    return rule;
  }
  if (!node.is_object() || node.size() != 1) reader.Fail(path, expected);
  if (node.contains("index")) {
    const json& index = node.at("index");
    if (!index.is_number_integer() || index.get<int64_t>() < 0) reader.Fail(path + ".index", "must be an integer >= 0");
    rule.kind = VolumeRule::Kind::Index;
    rule.index = index.get<size_t>();
  } else if (node.contains("b_value")) {
    rule.kind = VolumeRule::Kind::BValue;
    rule.b_value = reader.Number(node.at("b_value"), path + ".b_value");
    if (!(rule.b_value >= 0 && rule.b_value < 1e5)) reader.Fail(path + ".b_value", "must be s/mm^2 from 0 to 100000");
  } else {
    reader.Fail(path, expected);
  }
  return rule;
}

// The input fields whose role nnunet.json takes over: present beside "preprocessing": "nnunet" they
// would be ignored, so they are refused.
constexpr const char* kNnunetOwnedInputs[] = {"orientation", "spacing_mm", "patch_size", "interpolation",
                                              "normalisation", "mirror_axes"};

NnunetSettings ReadNnunet(const Reader& reader, const json& root, const Manifest& m) {
  const std::string path = "nnunet.";
  const json& node = reader.Get(root, "", "nnunet");
  NnunetSettings nnunet;
  nnunet.plan = reader.String(node, path, "plan");
  if (nnunet.plan.find('/') != std::string::npos || nnunet.plan.rfind("..", 0) == 0)
    reader.Fail(path + "plan", "must be a file name inside the package (is '" + nnunet.plan + "')");
  nnunet.plan_sha256 = reader.String(node, path, "plan_sha256");
  if (nnunet.plan_sha256.size() != 64 || nnunet.plan_sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    reader.Fail(path + "plan_sha256", "must be 64 lower-case hex digits");
  nnunet.dicom_voxel_order = reader.Choice<DicomVoxelOrder>(
      node, path, "dicom_voxel_order", {{"dcm2niix", DicomVoxelOrder::Dcm2niix}, {"medpipe", DicomVoxelOrder::Medpipe}});
  if (node.contains("keep_largest_component")) {
    const std::string field = path + "keep_largest_component";
    const json& steps = node.at("keep_largest_component");
    if (!steps.is_array()) reader.Fail(field, "must be a list of label lists (nnU-Net's postprocessing steps)");
    for (size_t i = 0; i < steps.size(); ++i) {
      const std::string at = field + "[" + std::to_string(i) + "]";
      if (!steps[i].is_array() || steps[i].empty()) reader.Fail(at, "must be a non-empty list of label values");
      std::vector<int> step;
      for (const json& value : steps[i]) {
        const bool known = value.is_number_integer() &&
                           std::any_of(m.labels.begin(), m.labels.end(), [&](const Label& l) { return l.value == value; });
        if (!known) reader.Fail(at, "names " + value.dump() + ", which is none of output.labels' values");
        step.push_back(value.get<int>());
      }
      nnunet.keep_largest_component.push_back(step);
    }
  }
  if (m.task != Task::Segmentation) reader.Fail("preprocessing", "is 'nnunet', which runs segmentation models only");
  if (m.spatial_dims != 3)
    reader.Fail("input.spatial_dims", "must be 3 with preprocessing 'nnunet': its models read volumes (a 2d configuration slice by slice)");
  const json& input = root.at("input");
  for (const char* key : kNnunetOwnedInputs)
    if (input.contains(key))
      reader.Fail(std::string("input.") + key, "must be absent with preprocessing 'nnunet': " + nnunet.plan + " gives it");
  return nnunet;
}

}  // namespace

int64_t Manifest::OutputChannels() const {
  if (task == Task::Segmentation && activation == Activation::Softmax) {
    int highest = 0;
    for (const auto& label : labels) highest = std::max(highest, label.value);
    return highest + 1;
  }
  return static_cast<int64_t>(labels.size());
}

const char* LateralityName(Laterality laterality) {
  switch (laterality) {
    case Laterality::Unpaired: return "unpaired";
    case Laterality::Left: return "left";
    case Laterality::Right: return "right";
    case Laterality::Unknown: return "unknown";
  }
  return "unknown";
}

std::optional<Code> LateralityCode(Laterality laterality) {
  if (laterality == Laterality::Left) return Code{"7771000", "SCT", "Left"};
  if (laterality == Laterality::Right) return Code{"24028007", "SCT", "Right"};
  return std::nullopt;
}

std::string StructureText(const Label& label) {
  if (label.type.value.empty()) return "";
  std::string text = label.modifier ? label.modifier->meaning + " " + label.type.meaning : label.type.meaning;
  if (const auto side = LateralityCode(label.laterality)) text = side->meaning + " " + text;
  if (label.laterality == Laterality::Unknown) text += ", side unknown";
  return text;
}

std::string VolumeRuleText(const VolumeRule& rule) {
  std::ostringstream text;
  switch (rule.kind) {
    case VolumeRule::Kind::First: text << "first"; break;
    case VolumeRule::Kind::Index: text << "index " << rule.index; break;
    case VolumeRule::Kind::BValue: text << "b_value " << rule.b_value; break;
  }
  return text.str();
}

const char* TaskName(Task task) { return task == Task::Segmentation ? "segmentation" : "classification"; }

const char* DicomVoxelOrderName(DicomVoxelOrder order) {
  return order == DicomVoxelOrder::Dcm2niix ? "dcm2niix" : "medpipe";
}

Manifest ParseManifest(const std::string& json_text, const std::filesystem::path& directory) {
  const std::string file = (directory / "manifest.json").string();
  const Reader reader(file);
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw ModelError(file, std::string("is not valid JSON: ") + e.what());
  }
  if (!root.is_object()) throw ModelError(file, "must hold a JSON object");

  Manifest m;
  m.directory = directory;
  m.name = reader.String(root, "", "name");
  if (m.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos)
    reader.Fail("name", "may hold only letters, digits, '.', '_' and '-' (it names output files)");
  m.version = reader.String(root, "", "version");
  m.description = reader.OptionalString(root, "description");
  m.license = reader.String(root, "", "license");
  m.training_data = reader.String(root, "", "training_data");
  m.task = reader.Choice<Task>(root, "", "task", {{"segmentation", Task::Segmentation}, {"classification", Task::Classification}});
  m.sha256 = reader.String(root, "", "sha256");
  if (m.sha256.size() != 64 || m.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
    reader.Fail("sha256", "must be 64 lower-case hex digits");
  if (root.contains("preprocessing"))
    m.preprocessing = reader.Choice<Preprocessing>(root, "", "preprocessing",
                                                   {{"medpipe", Preprocessing::Medpipe}, {"nnunet", Preprocessing::Nnunet}});
  const bool nnunet = m.preprocessing == Preprocessing::Nnunet;
  if (!nnunet && root.contains("nnunet")) reader.Fail("nnunet", "applies only with \"preprocessing\": \"nnunet\"");

  const json& input = reader.Get(root, "", "input");
  const json& channels = reader.Get(input, "input.", "channels");
  if (!channels.is_array() || channels.empty()) reader.Fail("input.channels", "must list at least one channel");
  for (size_t i = 0; i < channels.size(); ++i) {
    const std::string at = "input.channels[" + std::to_string(i) + "].";
    m.channels.push_back({reader.String(channels[i], at, "name"), reader.String(channels[i], at, "modality")});
  }
  const json& dims = reader.Get(input, "input.", "spatial_dims");
  if (dims != 2 && dims != 3) reader.Fail("input.spatial_dims", "must be 2 or 3");
  m.spatial_dims = dims.get<int>();
  if (!nnunet) ReadModelInput(reader, input, m);

  if (input.contains("volume")) m.volume = ReadVolumeRule(reader, input.at("volume"));
  if (input.contains("selector")) {
    m.series_description = reader.String(reader.Get(input, "input.", "selector"), "input.selector.", "series_description");
    try {
      std::regex(m.series_description, std::regex::ECMAScript | std::regex::icase);
    } catch (const std::regex_error& error) {
      reader.Fail("input.selector.series_description", std::string("is not a valid regular expression: ") + error.what());
    }
  }

  const json& output = reader.Get(root, "", "output");
  m.activation = reader.Choice<Activation>(output, "output.", "activation",
                                           {{"softmax", Activation::Softmax}, {"sigmoid", Activation::Sigmoid}});
  m.labels = ReadLabels(reader, output, m.task);
  if (output.contains("postprocessing")) {
    const json& post = output.at("postprocessing");
    m.postprocessing.largest_component = post.value("largest_component", false);
    m.postprocessing.fill_holes = post.value("fill_holes", false);
    if (post.contains("min_component_mm3"))
      m.postprocessing.min_component_mm3 = reader.Number(post.at("min_component_mm3"), "output.postprocessing.min_component_mm3");
  }

  if (output.contains("decision")) {
    if (m.task != Task::Classification) reader.Fail("output.decision", "applies to classification models only");
    const json& rule = output.at("decision");
    const std::string positive = reader.String(rule, "output.decision.", "positive_class");
    const auto found = std::find_if(m.labels.begin(), m.labels.end(), [&](const Label& l) { return l.name == positive; });
    if (found == m.labels.end()) reader.Fail("output.decision.positive_class", "'" + positive + "' is not one of the classes");
    const double threshold = reader.Number(reader.Get(rule, "output.decision.", "threshold"), "output.decision.threshold");
    if (!(threshold >= 0 && threshold <= 1)) reader.Fail("output.decision.threshold", "must be between 0 and 1");
    m.decision = DecisionRule{found->value, threshold};
  }

  if (nnunet) m.nnunet = ReadNnunet(reader, root, m);

  m.golden = ReadGolden(reader, reader.Get(root, "", "golden"));
  if (m.golden.output_shape.size() < 2 || m.golden.output_shape[1] != m.OutputChannels())
    reader.Fail("golden.output_shape", "must have " + std::to_string(m.OutputChannels()) + " output channels, as the labels imply");
  if (m.golden.input_shape.size() < 2 || m.golden.input_shape[1] != static_cast<int64_t>(m.channels.size()))
    reader.Fail("golden.input_shape", "must have as many channels as input.channels");
  return m;
}

Manifest LoadManifest(const std::filesystem::path& directory) {
  const auto path = directory / "manifest.json";
  if (!std::filesystem::is_regular_file(path))
    throw ModelError(path.string(), "is missing: " + directory.string() + " is not a model package");
  Manifest manifest = ParseManifest(ReadFile(path), directory);
  if (manifest.nnunet && !std::filesystem::is_regular_file(manifest.NnunetPlanFile()))
    throw ModelError(manifest.NnunetPlanFile().string(),
                     "is missing: manifest.json says preprocessing 'nnunet' (re-import with `medpipe model import nnunet`)");
  return manifest;
}

bool SelectsSeries(const Manifest& manifest, const std::string& description) {
  if (manifest.series_description.empty()) return true;
  return std::regex_search(description, std::regex(manifest.series_description, std::regex::ECMAScript | std::regex::icase));
}

}  // namespace medpipe::model
