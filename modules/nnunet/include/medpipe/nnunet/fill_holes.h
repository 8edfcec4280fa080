#pragma once
#include "medpipe/nnunet/array4.h"

namespace medpipe::nnunet {

// scipy.ndimage.binary_fill_holes with its default structure: every background voxel that is not
// 6-connected to the array's border through background becomes foreground.
Mask3 FillHoles(const Mask3& mask);

}  // namespace medpipe::nnunet
