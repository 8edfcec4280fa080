#pragma once
// A label image on the source grid -> cleaned label image -> measurements.
#include <vector>

#include "medpipe/core/volume.h"
#include "medpipe/model/manifest.h"

namespace medpipe::postprocess {

// Per label, in this order: fill enclosed holes (background voxels only), drop components below
// min_component_mm3, keep the largest component. Connectivity is face-connected (6-neighbourhood).
void Clean(LabelImage& labels, const model::Postprocessing& rules, const std::vector<model::Label>& label_list);

struct LabelMeasure {
  int value = 0;
  std::string name;
  uint64_t voxels = 0;
  double volume_ml = 0;
  uint64_t components = 0;
};

// Voxel count, volume (mL) and connected-component count of each label in LABEL_LIST.
std::vector<LabelMeasure> Measure(const LabelImage& labels, const std::vector<model::Label>& label_list);

}  // namespace medpipe::postprocess
