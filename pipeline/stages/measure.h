#pragma once
// Each label's measures on the source grid: voxels, volume, components, shape and, for greyscale
// series, the values under it (HU for CT).
#include <vector>

#include "medpipe/core/study_result.h"
#include "medpipe/model/manifest.h"
#include "stages/series_work.h"

namespace medpipe::cli {

std::vector<LabelResult> MeasureLabels(const LabelImage& labels, const model::Manifest& manifest,
                                       const SeriesContext& series);

}  // namespace medpipe::cli
