#pragma once
// nnU-Net's postprocessing (postprocessing.json of find_best_configuration, applied by
// nnUNetv2_apply_postprocessing): remove_all_but_largest_component_from_segmentation.
#include <vector>

#include "medpipe/core/volume.h"

namespace medpipe::nnunet {

// One step: the voxels of any of LABELS (a label, a region's labels, or the foreground labels) form one mask;
// all of its connected components (26-connected, skimage.measure.label's full connectivity) but the largest
// become background (0). Components that tie for the largest all stay, as acvl_utils keeps them.
void KeepLargestComponent(LabelImage& labels, const std::vector<int>& values);

}  // namespace medpipe::nnunet
