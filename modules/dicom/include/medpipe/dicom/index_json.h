#pragma once
#include <nlohmann/json.hpp>

#include "medpipe/dicom/series_index.h"

namespace medpipe::dicom {

// The index as JSON: what `medpipe scan` prints and what a rerun can read. No patient names.
nlohmann::json SeriesToJson(const Series& series);
nlohmann::json ProblemsToJson(const std::vector<PathProblem>& problems);
nlohmann::json IndexToJson(const ArchiveIndex& index);

}  // namespace medpipe::dicom
