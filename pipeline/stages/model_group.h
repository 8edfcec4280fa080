#pragma once
// A model group (models/NAME/group.json, written by `medpipe model import totalsegmentator`): several
// nnU-Net packages run on one series as TotalSegmentator runs them (its nnunet.py, nnUNet_predict_image):
// the image turned to the closest canonical RAS orientation and resampled to the group's spacing
// (modules/nnunet totalseg_resampling.h), each part's nnU-Net on that image, their labels merged in part
// order into one map (a voxel takes the group value of the last part that labels it with a value in its
// class map), the merged map zoomed back (order 0) and turned back onto the series' grid.
#include <array>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/model/manifest.h"
#include "medpipe/nnunet/totalseg_resampling.h"
#include "stages/nnunet_model.h"
#include "stages/series_work.h"

namespace medpipe::cli {

// The file that makes a folder a model group.
constexpr const char* kModelGroupFile = "group.json";

// Whether DIRECTORY holds a model group rather than a single package.
bool IsModelGroup(const std::filesystem::path& directory);

// What group.json says, checked: each part's package and class map (part value -> group value).
struct ModelGroupSpec {
  struct Part {
    std::filesystem::path package;  // absolute
    std::array<uint8_t, 256> to_group{};  // 0: the part's value is not in its class map and writes nothing
  };
  std::string name, version, description, license, training_data;
  std::string task;           // TotalSegmentator's task, e.g. "total"
  double resample_mm = 1.5;   // TotalSegmentator's `resample`
  double tile_step_size = 0.5;
  std::vector<Part> parts;
};

// DIRECTORY/group.json; a ModelError names the field that is wrong.
ModelGroupSpec ReadModelGroup(const std::filesystem::path& directory);

// COMBINED (a label per voxel) overwritten where PART_LABELS has a value in TO_GROUP: one part of the merge.
void MergePartLabels(const std::vector<uint8_t>& part_labels, const std::array<uint8_t, 256>& to_group,
                     std::vector<uint8_t>& combined);

// One series on its way through a group.
struct GroupJob {
  nnunet::Affine4 source_affine{};  // the series' (RAS)
  nnunet::Shape3 canonical_shape{};
  nnunet::Shape3 resampled_shape{};
  std::vector<std::shared_ptr<NnunetJob>> parts;
};

class ModelGroup {
 public:
  // Reads DIRECTORY's group.json and loads every part (each checked as `medpipe run` checks a package) on DEVICE.
  ModelGroup(const std::filesystem::path& directory, torch::Device device);

  // The group as one segmentation model: the first part's input, the merged labels, group.json's name and digest.
  const model::Manifest& Manifest() const { return manifest_; }
  const std::filesystem::path& FirstPart() const { return spec_.parts.front().package; }

  // CPU: SERIES canonical and resampled, then preprocessed for each part.
  std::shared_ptr<GroupJob> Prepare(const SeriesContext& series) const;
  // The device: each part's sliding window; REPORT gets the parts' tiles.
  void Infer(GroupJob& job, int64_t tile_batch, nlohmann::json& report);
  // CPU: the merged label map on GRID (the series' own).
  LabelImage::Pointer Finish(const GroupJob& job, const Image3D& grid) const;

 private:
  ModelGroupSpec spec_;
  model::Manifest manifest_;
  std::vector<std::unique_ptr<NnunetModel>> parts_;
};

}  // namespace medpipe::cli
