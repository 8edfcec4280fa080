#pragma once
// A classifier's output as its one decision (model::Decide) and what the outputs need of it: the
// entries of result.json, the overlay's line and, for DICOM input, the SR's coded finding.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/model/manifest.h"
#include "stages/series_work.h"

namespace medpipe::cli {

struct Classification {
  Decision decision;
  nlohmann::json probabilities;  // class name -> probability, as result.json has them
  std::string finding;           // the overlay's line: "<model>: <decision text>"
  std::optional<exporter::ClassificationFinding> sr;  // when the series' images can be referenced
};

Classification Classify(const model::Manifest& manifest, const std::vector<double>& probabilities,
                        const SeriesContext& series);

}  // namespace medpipe::cli
