#pragma once
#include "medpipe/nnunet/array4.h"

namespace medpipe::nnunet {

// nnU-Net's crop_to_nonzero: BOX bounds the hole-filled mask of voxels where any channel is non-zero
// (the full extent along an axis where it is empty); MASK is that mask inside BOX, nnU-Net's seg >= 0
// (the voxels ZScoreNormalization with use_mask_for_norm reads).
struct NonzeroCrop {
  Box3 box;
  Mask3 mask;
};

NonzeroCrop FindNonzeroCrop(const Array4& data);

}  // namespace medpipe::nnunet
