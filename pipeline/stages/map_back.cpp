#include "stages/map_back.h"

#include "medpipe/postprocess/postprocess.h"
#include "medpipe/preprocess/preprocess.h"

namespace medpipe::cli {

LabelImage::Pointer LabelsOnSourceGrid(const model::Manifest& manifest, const LabelImage& label_map,
                                       const Image3D& source_grid) {
  return CleanedLabels(manifest, preprocess::MapBackLabels(label_map, source_grid));
}

LabelImage::Pointer CleanedLabels(const model::Manifest& manifest, LabelImage::Pointer labels) {
  postprocess::Clean(*labels, manifest.postprocessing, manifest.labels);
  return labels;
}

Image3D::Pointer HeatmapOnSourceGrid(const Image3D& heatmap, const Image3D& source_grid) {
  return preprocess::MapBack(heatmap, source_grid);
}

}  // namespace medpipe::cli
