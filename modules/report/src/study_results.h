#pragma once
// The result.json files of a run, read into what the HTML report and results.csv show.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/core/study_result.h"

namespace medpipe::report {

// A key number of an analysis: a label's volume, or a classifier's decision.
struct Finding {
  std::string name;  // label, or the decided class
  double value;      // mL, or the decided class's probability
  std::optional<Decision> decision;  // classification: what result.json's "decision" says
  nlohmann::json label;  // segmentation: the label's entry in result.json (shape, intensity)
};

struct Analysis {
  std::string model, task;
  Outcome outcome;
  std::string reason;  // why it was skipped or failed
  std::vector<std::string> fallbacks;
  std::vector<Finding> findings;
  nlohmann::json json;
};

struct Series {
  std::string id, label, modality;  // label: "#<series number>", or the id without one
  bool loaded;
  std::string error;
  std::vector<std::string> problems;
  std::vector<std::string> images;    // overlay PNGs that exist, relative to the study folder
  std::vector<std::string> missing;   // overlay names that do not, or that point outside it
  std::vector<Analysis> analyses;
  nlohmann::json json;
};

struct Study {
  std::string folder;  // name under OUTDIR/studies/: the study id
  std::string id, study_instance_uid, status;
  std::vector<Series> series;
  nlohmann::json json;
};

// Every OUTDIR/studies/*/result.json but hidden (staging) folders', by folder name. Throws IoError
// naming the file when one cannot be read or is not a medpipe result.
std::vector<Study> ReadStudies(const std::filesystem::path& outdir);

}  // namespace medpipe::report
