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

// Where a montage put its pictures and its text, in pixels of the PNG (for checks and tests).
struct MontageLayout {
  struct Text {
    std::string text;
    int x, y, width, height;  // the box the glyphs fill
  };
  struct Panel {
    std::string name;         // "axial", ..., or "slice plane", "row plane", "column plane" when oblique
    int x, y, width, height;
    double stretch = 1;       // its aspect over the true one: 1 to scale, 7 when shown 7 times taller
  };
  int width = 0, height = 0;
  double tilt_degrees = 0;    // between the voxel axes and their nearest patient axes
  std::vector<Panel> panels;
  std::vector<Text> texts;    // every line drawn: warning, captions, side letters, legend
};

// Oblique above this many degrees of tilt, as the study page's slice viewer says.
constexpr double kObliqueDegrees = 0.5;

// A PNG montage for a report page, 1200 px wide: three orthogonal planes of IMAGE through the centroid
// of the labelled voxels of LABELS (the volume centre when LABELS is null or has none), side by side at
// one scale of millimetres, in radiological convention (patient left on the image right, anterior and
// superior at the top; sagittal with anterior on the left) whatever the direction matrix. A plane
// thinner than 160 px (a slab of a few slices) is stretched to it, and its caption says by how much.
// An oblique series' planes are its own (slice, row and column planes, turned to the nearest patient
// axes), captioned so, under a warning with the tilt. Windowed per MODALITY (CT: level 40 width
// 400 HU; others: 1st-99th percentile), each legend entry's label contoured in its colour, the legend
// below in columns. Captions sit above the planes, so no two texts overlap. LABELS must share IMAGE's
// grid. Writes PATH; throws IoError when it cannot be written.
MontageLayout WriteVolumeOverlay(const Image3D& image, const LabelImage* labels, const std::vector<LegendEntry>& legend,
                                 const std::string& modality, const std::filesystem::path& path);

// An X-ray (a single-slice image) as acquired, windowed to its 1st-99th percentile, its longer side
// fitted to 1000 px, under a banner holding LINES (e.g. "pneumonia 0.83 (threshold 0.50): positive");
// when HEATMAP (IMAGE's grid, values 0..1) is given, a JET heat map blended at 40 % times each pixel's heat,
// and its colour scale (0 to 1, with numbers) below the picture.
// Writes PATH; throws IoError when it cannot be written.
void WriteXrayOverlay(const Image3D& image, const std::vector<std::string>& lines, const Image3D* heatmap,
                      const std::filesystem::path& path);

// HEATMAP (a single-slice image, values 0..1) alone in JET colours, its longer side fitted to 1000 px, with
// its colour scale (0 to 1, with numbers) below.
// Writes PATH; throws IoError when it cannot be written.
void WriteHeatmapPng(const Image3D& heatmap, const std::filesystem::path& path);

}  // namespace medpipe::report
