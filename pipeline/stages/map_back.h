#pragma once
// Model-space results onto the series' own grid: the label map (then cleaned as the manifest says)
// and a classifier's heat map.
#include "medpipe/core/volume.h"
#include "medpipe/model/manifest.h"

namespace medpipe::cli {

// LABEL_MAP (decided in model space) on SOURCE_GRID, cleaned by the manifest's postprocessing.
LabelImage::Pointer LabelsOnSourceGrid(const model::Manifest& manifest, const LabelImage& label_map,
                                       const Image3D& source_grid);

// LABELS, already on the source grid, cleaned by the manifest's postprocessing.
LabelImage::Pointer CleanedLabels(const model::Manifest& manifest, LabelImage::Pointer labels);

// A heat map on its model's input grid -> SOURCE_GRID, values kept in 0..1.
Image3D::Pointer HeatmapOnSourceGrid(const Image3D& heatmap, const Image3D& source_grid);

}  // namespace medpipe::cli
