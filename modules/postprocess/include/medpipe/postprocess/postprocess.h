#pragma once
// A label image on the source grid -> cleaned label image -> measurements and quantitative features
// (like TotalSegmentator's statistics and the basics of pyradiomics' shape and first-order classes).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/model/manifest.h"

namespace medpipe::postprocess {

// Per label, in this order: fill enclosed holes (background voxels only), drop components below
// min_component_mm3, keep the largest component. Connectivity is face-connected (6-neighbourhood).
void Clean(LabelImage& labels, const model::Postprocessing& rules, const std::vector<model::Label>& label_list);

// A label's shape and place, from ITK's shape label map.
struct LabelShape {
  double surface_mm2 = 0;               // ITK's estimate from how often lines cross the voxels' faces (Crofton)
  double sphericity = 0;                // surface of the ball of the same volume / surface_mm2: 1 for a ball
  std::array<double, 3> centroid_mm{};  // patient coordinates (LPS, mm)
  std::array<int64_t, 3> first_voxel{}, last_voxel{};  // bounding box in voxel indices, both included
};

// The image's values under a label (HU for CT): mean, sample standard deviation, minimum, maximum and
// exact percentiles, interpolated linearly between ranks (as numpy).
struct LabelIntensity {
  double mean = 0, std = 0, min = 0, max = 0;
  double p5 = 0, p25 = 0, median = 0, p75 = 0, p95 = 0;
};

struct LabelMeasure {
  int value = 0;
  std::string name;
  uint64_t voxels = 0;
  double volume_ml = 0;
  uint64_t components = 0;
  std::optional<LabelShape> shape;          // absent for a label without voxels
  std::optional<LabelIntensity> intensity;  // absent without voxels or without an intensity image
};

// Voxel count, volume (mL), connected-component count and shape of each label in LABEL_LIST, and the
// values of INTENSITIES (on the same grid as LABELS) under it when given.
std::vector<LabelMeasure> Measure(const LabelImage& labels, const std::vector<model::Label>& label_list,
                                  const Image3D* intensities = nullptr);

}  // namespace medpipe::postprocess
