#include "stages/measure.h"

#include "medpipe/postprocess/postprocess.h"

namespace medpipe::cli {
namespace {

std::optional<std::array<double, 2>> NormalRange(const model::Manifest& manifest, int value) {
  for (const auto& label : manifest.labels)
    if (label.value == value) return label.normal_range_ml;
  return std::nullopt;
}

}  // namespace

std::vector<LabelResult> MeasureLabels(const LabelImage& labels, const model::Manifest& manifest,
                                       const SeriesContext& series) {
  const Image3D* intensities = series.volume.IsColor() ? nullptr : &series.volume.Grid();
  std::vector<LabelResult> results;
  for (const auto& measure : postprocess::Measure(labels, manifest.labels, intensities)) {
    nlohmann::json json = {{"value", measure.value},
                           {"name", measure.name},
                           {"voxels", measure.voxels},
                           {"volume_ml", measure.volume_ml},
                           {"components", measure.components}};
    if (const auto& shape = measure.shape) {
      json.update({{"surface_mm2", shape->surface_mm2},
                   {"sphericity", shape->sphericity},
                   {"centroid_mm", shape->centroid_mm},
                   {"bounding_box", {{"first_voxel", shape->first_voxel}, {"last_voxel", shape->last_voxel}}}});
    }
    if (const auto& values = measure.intensity) {
      json["intensity"] = {{"unit", series.modality == "CT" ? "HU" : ""},
                           {"mean", values->mean}, {"std", values->std},  {"min", values->min},
                           {"max", values->max},   {"p5", values->p5},    {"p25", values->p25},
                           {"median", values->median}, {"p75", values->p75}, {"p95", values->p95}};
    }
    results.push_back({measure.value, measure.name, measure.volume_ml, NormalRange(manifest, measure.value), std::move(json)});
  }
  return results;
}

}  // namespace medpipe::cli
