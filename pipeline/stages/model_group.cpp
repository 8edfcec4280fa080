#include "stages/model_group.h"

#include <algorithm>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/core/log.h"
#include "medpipe/inference/model.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::cli {
namespace {

// TotalSegmentator splits an image above this many voxels (at the group's spacing, more than 200 slices)
// into three overlapping slabs; medpipe runs the whole image.
constexpr int64_t kTripleSplitVoxels = 512LL * 512 * 900;

class GroupReader {
 public:
  explicit GroupReader(fs::path file) : file_(std::move(file)) {}
  [[noreturn]] void Fail(const std::string& field, const std::string& reason) const {
    throw ModelError(file_.string(), "'" + field + "' " + reason);
  }
  const json& Get(const json& node, const std::string& field) const {
    if (!node.is_object() || !node.contains(field)) Fail(field, "is missing");
    return node.at(field);
  }
  std::string String(const json& node, const std::string& field) const {
    const json& value = Get(node, field);
    if (!value.is_string()) Fail(field, "must be a string");
    return value.get<std::string>();
  }
  double Number(const json& node, const std::string& field) const {
    const json& value = Get(node, field);
    if (!value.is_number()) Fail(field, "must be a number");
    return value.get<double>();
  }

 private:
  fs::path file_;
};

ModelGroupSpec::Part ReadPart(const GroupReader& reader, const json& node, const fs::path& directory, size_t index) {
  const std::string at = "parts[" + std::to_string(index) + "].";
  ModelGroupSpec::Part part;
  const std::string package = reader.String(node, "package");
  if (package.empty() || fs::path(package).is_absolute() || package.find("..") != std::string::npos)
    reader.Fail(at + "package", "must be a folder inside the group (is '" + package + "')");
  part.package = directory / package;
  const json& class_map = reader.Get(node, "class_map");
  if (!class_map.is_object() || class_map.empty()) reader.Fail(at + "class_map", "must map part values to group values");
  for (const auto& [from, to] : class_map.items()) {
    int value = -1;
    try {
      value = std::stoi(from);
    } catch (const std::exception&) {
    }
    if (value < 1 || value > 255 || std::to_string(value) != from)
      reader.Fail(at + "class_map", "has key '" + from + "'; part values are 1 to 255");
    if (!to.is_number_integer() || to.get<int>() < 1 || to.get<int>() > 255)
      reader.Fail(at + "class_map." + from, "must be a group value from 1 to 255");
    part.to_group[static_cast<size_t>(value)] = static_cast<uint8_t>(to.get<int>());
  }
  return part;
}

// The group as one model: the first part's manifest with group.json's identity and the parts' labels
// renumbered into the group's values (the first part that names a value gives its label).
model::Manifest GroupManifest(const ModelGroupSpec& spec, const fs::path& directory) {
  model::Manifest manifest = model::LoadManifest(spec.parts.front().package);
  manifest.directory = directory;
  manifest.name = spec.name;
  manifest.version = spec.version;
  manifest.description = spec.description;
  manifest.license = spec.license;
  manifest.training_data = spec.training_data;
  manifest.sha256 = Sha256File(directory / kModelGroupFile);
  manifest.labels.clear();
  for (const auto& part : spec.parts) {
    for (model::Label label : model::LoadManifest(part.package).labels) {
      if (label.value < 1 || label.value > 255 || part.to_group[static_cast<size_t>(label.value)] == 0) continue;
      label.value = part.to_group[static_cast<size_t>(label.value)];
      const bool known = std::any_of(manifest.labels.begin(), manifest.labels.end(),
                                     [&](const model::Label& other) { return other.value == label.value; });
      if (!known) manifest.labels.push_back(label);
    }
  }
  std::sort(manifest.labels.begin(), manifest.labels.end(),
            [](const model::Label& a, const model::Label& b) { return a.value < b.value; });
  return manifest;
}

}  // namespace

bool IsModelGroup(const fs::path& directory) { return fs::is_regular_file(directory / kModelGroupFile); }

ModelGroupSpec ReadModelGroup(const fs::path& directory) {
  const fs::path file = directory / kModelGroupFile;
  json root;
  try {
    root = json::parse(ReadFile(file));
  } catch (const json::exception& error) {
    throw ModelError(file.string(), std::string("is not valid JSON: ") + error.what());
  }
  const GroupReader reader(file);
  ModelGroupSpec spec;
  spec.name = reader.String(root, "name");
  spec.version = reader.String(root, "version");
  spec.description = root.value("description", "");
  spec.license = reader.String(root, "license");
  spec.training_data = reader.String(root, "training_data");
  const json& totalseg = reader.Get(root, "totalsegmentator");
  spec.task = reader.String(totalseg, "task");
  spec.resample_mm = reader.Number(totalseg, "resample_mm");
  if (!(spec.resample_mm > 0)) reader.Fail("totalsegmentator.resample_mm", "must be a spacing in mm above 0");
  spec.tile_step_size = reader.Number(totalseg, "tile_step_size");
  if (!(spec.tile_step_size > 0 && spec.tile_step_size <= 1)) reader.Fail("totalsegmentator.tile_step_size", "must be in (0, 1]");
  const json& parts = reader.Get(root, "parts");
  if (!parts.is_array() || parts.empty()) reader.Fail("parts", "must list at least one nnU-Net package");
  for (size_t i = 0; i < parts.size(); ++i) spec.parts.push_back(ReadPart(reader, parts[i], directory, i));
  return spec;
}

void MergePartLabels(const std::vector<uint8_t>& part_labels, const std::array<uint8_t, 256>& to_group,
                     std::vector<uint8_t>& combined) {
  for (size_t i = 0; i < part_labels.size(); ++i)
    if (const uint8_t value = to_group[part_labels[i]]) combined[i] = value;
}

ModelGroup::ModelGroup(const fs::path& directory, torch::Device device)
    : spec_(ReadModelGroup(directory)), manifest_(GroupManifest(spec_, directory)) {
  for (const auto& part : spec_.parts) {
    const auto checked = inference::LoadedModel::Load(part.package, device, inference::Precision::Fp32);
    if (!checked.Manifest().nnunet)
      throw ModelError(part.package.string(), "is not an nnU-Net package (import it with `medpipe model import nnunet`)");
    if (checked.Manifest().channels.size() != 1)
      throw ModelError(part.package.string(), "reads " + std::to_string(checked.Manifest().channels.size()) +
                                                  " channels; TotalSegmentator's steps take one image");
    parts_.push_back(std::make_unique<NnunetModel>(checked.Manifest(), device, spec_.tile_step_size));
  }
}

std::shared_ptr<GroupJob> ModelGroup::Prepare(const SeriesContext& series) const {
  const unsigned threads = NnunetCpuThreads();
  auto job = std::make_shared<GroupJob>();
  const nnunet::OrientedGrid source = nnunet::OrientedGridOf(series.volume.Grid());
  job->source_affine = source.affine;
  const nnunet::OrientedGrid canonical = nnunet::ToClosestCanonical(source);
  job->canonical_shape = canonical.grid.shape;
  const nnunet::OrientedGrid resampled = nnunet::ResampleImage(canonical, spec_.resample_mm, threads);
  job->resampled_shape = resampled.grid.shape;
  if (nnunet::VoxelCount(resampled.grid.shape) > kTripleSplitVoxels && resampled.grid.shape[0] > 200 && spec_.parts.size() > 1)
    Log(LogLevel::Warning, manifest_.name + ": TotalSegmentator would split this " + std::to_string(resampled.grid.shape[2]) +
                               "x" + std::to_string(resampled.grid.shape[1]) + "x" + std::to_string(resampled.grid.shape[0]) +
                               " image into three slabs; medpipe runs it whole (labels may differ near the slab borders)");
  nnunet::Array4 image(1, resampled.grid.shape);
  std::copy(resampled.grid.values.begin(), resampled.grid.values.end(), image.Values().begin());
  // nnU-Net reads the file TotalSegmentator writes: (z, y, x) with the zooms of its header.
  const nnunet::Spacing3 zooms = nnunet::NiftiZooms(resampled.affine);
  for (const auto& part : parts_) job->parts.push_back(part->PrepareArray(image, {zooms[2], zooms[1], zooms[0]}));
  return job;
}

void ModelGroup::Infer(GroupJob& job, int64_t tile_batch, nlohmann::json& report) {
  int64_t tiles = 0;
  json parts = json::array();
  for (size_t p = 0; p < parts_.size(); ++p) {
    json part_report;
    parts_[p]->Infer(*job.parts[p], tile_batch, part_report);
    tiles += part_report.value("patches", int64_t{0});
    report.update({{"device", part_report["device"]}, {"precision", part_report["precision"]}, {"batch_size", tile_batch}});
    parts.push_back({{"package", spec_.parts[p].package.filename().string()}, {"patches", part_report["patches"]},
                     {"preprocessed_shape", part_report["nnunet"]["preprocessed_shape"]}});
  }
  const auto& shape = job.resampled_shape;
  report["patches"] = tiles;
  report["totalsegmentator"] = {{"task", spec_.task},
                                {"resample_mm", spec_.resample_mm},
                                {"tile_step_size", spec_.tile_step_size},
                                {"resampled_shape", {shape[2], shape[1], shape[0]}},
                                {"parts", parts}};
}

LabelImage::Pointer ModelGroup::Finish(const GroupJob& job, const Image3D& grid) const {
  std::vector<uint8_t> merged(static_cast<size_t>(nnunet::VoxelCount(job.resampled_shape)), 0);
  for (size_t p = 0; p < parts_.size(); ++p) MergePartLabels(parts_[p]->Labels(*job.parts[p]), spec_.parts[p].to_group, merged);
  const unsigned threads = NnunetCpuThreads();
  const nnunet::Grid3 back = nnunet::FromClosestCanonical(
      nnunet::ResampleLabels({job.resampled_shape, {merged.begin(), merged.end()}}, job.canonical_shape, threads),
      job.source_affine);
  std::vector<uint8_t> labels(back.values.size());
  std::transform(back.values.begin(), back.values.end(), labels.begin(), [](double value) { return static_cast<uint8_t>(value); });
  return LabelImageOn(grid, labels);
}

}  // namespace medpipe::cli
