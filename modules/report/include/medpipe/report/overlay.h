#pragma once
// PNG images for review: contour montages of volumes and annotated X-rays (OpenCV).
#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "medpipe/core/volume.h"

namespace medpipe::report {

// One line of a montage's legend, and the colour its label's contours are drawn in.
struct LegendEntry {
  int value;                   // label value in the mask, 1..255
  std::string name;
  std::array<int, 3> colour;   // RGB, 0..255
  std::string text;            // shown after the name, e.g. "12.4 mL"
};

// A PNG montage for a report page, 1200 px wide: axial, coronal and sagittal slices of IMAGE through
// the centroid of the labelled voxels of LABELS (the volume centre when LABELS is null or has none),
// with square pixels, in radiological convention (patient left on the image right, anterior and
// superior at the top; sagittal with anterior on the left) whatever the direction matrix, windowed
// per MODALITY (CT: level 40 width 400 HU; others: 1st-99th percentile), the contours of each legend
// entry's label in its colour, and the legend below. LABELS must share IMAGE's grid. Writes PATH;
// throws IoError when it cannot be written.
void WriteVolumeOverlay(const Image3D& image, const LabelImage* labels, const std::vector<LegendEntry>& legend,
                        const std::string& modality, const std::filesystem::path& path);

// An X-ray (a single-slice image) as acquired, windowed to its 1st-99th percentile, its longer side
// fitted to 1000 px, under a banner holding LINES (e.g. "pneumonia 0.83 (threshold 0.50): positive");
// when HEATMAP (IMAGE's grid, values 0..1) is given, a JET heat map blended at 40 % times each pixel's heat.
// Writes PATH; throws IoError when it cannot be written.
void WriteXrayOverlay(const Image3D& image, const std::vector<std::string>& lines, const Image3D* heatmap,
                      const std::filesystem::path& path);

// HEATMAP (a single-slice image, values 0..1) alone in JET colours, its longer side fitted to 1000 px.
// Writes PATH; throws IoError when it cannot be written.
void WriteHeatmapPng(const Image3D& heatmap, const std::filesystem::path& path);

}  // namespace medpipe::report
