#pragma once
// Source volume -> model input, and model output -> source grid. Every step keeps physical (LPS)
// space: reorientation only permutes and flips axes, resampling and padding define a new grid over
// the same patient coordinates. So mapping back is one resampling onto the source grid.
#include "medpipe/core/volume.h"
#include "medpipe/model/manifest.h"

namespace medpipe::preprocess {

// What the model needs, taken from its manifest.
struct Spec {
  std::string orientation;                          // "RAS", "LPS", ...; empty keeps the source's axes
  std::optional<std::array<double, 3>> spacing_mm;  // in the reoriented axes; empty keeps the spacing
  std::optional<std::array<int64_t, 3>> size;       // resize the whole image to this grid (classification)
  std::array<int64_t, 3> min_size{1, 1, 1};         // pad with 0 (after normalisation) to at least this
  model::Interpolation interpolation = model::Interpolation::Linear;
  model::Normalisation normalisation;
};

// Spec for MANIFEST: segmentation resamples to its spacing and pads to the patch size;
// classification resizes the whole image to the patch size.
Spec SpecFor(const model::Manifest& manifest);

// Reorient, normalise, resample (and pad). Returns the model-space volume, one image per channel.
Volume Prepare(const Volume& source, const Spec& spec);

// The direction matrix (columns = axis directions in LPS) for a "towards" code such as "RAS".
Image3D::DirectionType DirectionFor(const std::string& orientation);

// Resamples MODEL_SPACE onto REFERENCE's grid: linear interpolation, nearest-value extrapolation at
// the rim. Exact (to float rounding) where the grids' voxel centres coincide.
Image3D::Pointer MapBack(const Image3D& model_space, const Image3D& reference);

// A label map decided at model resolution onto REFERENCE's grid: each voxel takes the label of the
// nearest model voxel (the rim's outside the model grid too). Exact where the voxel centres coincide.
LabelImage::Pointer MapBackLabels(const LabelImage& model_space, const Image3D& reference);

}  // namespace medpipe::preprocess
