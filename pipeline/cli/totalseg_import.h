#pragma once
#include <string>
#include <vector>

namespace medpipe::cli {

// `medpipe model import totalsegmentator WEIGHTS_DIR --out DIR [--task total|total_fast|total_fastest] [--parts ID,...]`
// (ARGS after "import"): a model group (stages/model_group.h) from the nnU-Net results folders that
// TotalSegmentator downloads (WEIGHTS_DIR/DatasetNNN_*/TRAINER__nnUNetPlans__3d_fullres/fold_0): each part
// imported as `medpipe model import nnunet` does, fold 0, under DIR/parts/, and group.json with the
// task's spacing, tile step and class maps (the parts' labels in part order, one value per name, as
// TotalSegmentator's class map). A missing part is refused by name before anything is written.
int TotalSegmentatorImportCommand(const std::vector<std::string>& args);

}  // namespace medpipe::cli
