#pragma once
#include <string>
#include <vector>

namespace medpipe::cli {

// `medpipe model import totalsegmentator WEIGHTS_DIR --out DIR [--task total|total_fast|total_fastest] [--parts ID,...]`
// (ARGS after "import"): a model group (stages/model_group.h) from the nnU-Net results folders that
// TotalSegmentator downloads (WEIGHTS_DIR/DatasetNNN_*/TRAINER__nnUNetPlans__3d_fullres/fold_0): each part
// imported as `medpipe model import nnunet` does, fold 0, under DIR/parts/, and group.json with the
// task's spacing, tile step and class maps. The task's own parts are checked against TotalSegmentator's
// class maps (configs/totalsegmentator/class_maps.json), take its class_map["total"] values and its SNOMED CT
// codes; other --parts are numbered by name in part order. A missing part or a label name that differs from
// TotalSegmentator's is refused (exit 2) before anything is written.
int TotalSegmentatorImportCommand(const std::vector<std::string>& args);

}  // namespace medpipe::cli
