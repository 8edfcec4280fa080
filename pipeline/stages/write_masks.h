#pragma once
// A segmentation's mask files, each read back and checked to put every label where the mask in memory
// has it (CheckSameGeometry): the NIfTI mask with its label descriptions, the DICOM SEG and the
// RTSTRUCT, as the output types ask.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "stages/run_settings.h"
#include "medpipe/core/study_result.h"
#include "medpipe/model/manifest.h"
#include "stages/series_work.h"

namespace medpipe::cli {

struct MaskFiles {
  std::map<std::string, std::string> outputs;         // result.json's "outputs": kind -> file name
  std::optional<exporter::SegmentationFindings> seg;   // the SEG and its segments, for the study's SR
};

// Writes LABELS (on SERIES' grid) as OUTPUTS asks. A series whose images cannot be referenced gets no
// SEG or RTSTRUCT, and the reason instead ("dicom_skipped"). MEASURES are the labels' measures, in
// the manifest's order, for the SR.
MaskFiles WriteMasks(const LabelImage& labels, const model::Manifest& manifest, const SeriesContext& series,
                     const std::vector<LabelResult>& measures, const OutputTypes& outputs);

}  // namespace medpipe::cli
