#pragma once
#include "medpipe/synth/synthetic_study.h"

class DcmItem;

namespace medpipe::synth {

// Voxel-centre coordinates (mm, LPS) of an axial volume centred on the patient origin.
class AxialGrid {
 public:
  // Throws medpipe::ConfigError when the spec has no voxels or a spacing that is not positive.
  explicit AxialGrid(const VolumeSpec& spec);

  double X(int column) const { return (column - 0.5 * (spec_.columns - 1)) * spec_.spacing_mm[0]; }
  double Y(int row) const { return (row - 0.5 * (spec_.rows - 1)) * spec_.spacing_mm[1]; }
  double Z(int slice) const { return (slice - 0.5 * (spec_.slices - 1)) * spec_.spacing_mm[2]; }
  // Extent of the whole volume along x, y, z in mm.
  double Width() const { return spec_.columns * spec_.spacing_mm[0]; }
  double Height() const { return spec_.rows * spec_.spacing_mm[1]; }
  double Depth() const { return spec_.slices * spec_.spacing_mm[2]; }

  // Image plane attributes of one slice: position, orientation, spacing, thickness, location.
  void PutSlicePlane(DcmItem& item, int slice) const;

 private:
  VolumeSpec spec_;
};

}  // namespace medpipe::synth
