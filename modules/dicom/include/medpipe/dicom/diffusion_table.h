#pragma once
// b-values and gradient directions of a 4-D diffusion series, as FSL's .bval/.bvec text.
#include <optional>
#include <string>

#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_index.h"

namespace medpipe::dicom {

struct DiffusionText {
  std::string bval;  // one line: the b-value of each volume, s/mm^2
  std::string bvec;  // three lines (x, y, z), one column per volume
};

// FSL's convention, as dcm2niix writes it: each gradient in the voxel frame of the written image
// (DIRECTION: its columns are the row, column and slice axes in LPS), x negated when the NIfTI
// affine's determinant is positive. Empty when no volume of SERIES has a b-value above 0.
std::optional<DiffusionText> DiffusionTable(const Series& series, const Image3D::DirectionType& direction);

}  // namespace medpipe::dicom
