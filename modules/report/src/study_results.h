#pragma once
// The result.json files of a run, read once into the typed results (medpipe/core/study_result.h) that
// the HTML report and results.csv show, with which review pictures exist.
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
  std::optional<Decision> decision;  // classification
  nlohmann::json label;              // segmentation: the label's entry in result.json (shape, intensity)
  std::optional<std::array<double, 2>> normal_range_ml;  // segmentation: [low, high] mL from the manifest
};
std::vector<Finding> FindingsOf(const Analysis& analysis);

// A series' review pictures: the series overlay first, then each analysis' own.
struct Pictures {
  std::vector<std::string> images;   // that exist, relative to the study folder
  std::vector<std::string> missing;  // named but absent, or pointing outside the folder
};

struct Study {
  std::string folder;  // name under OUTDIR/studies/: the study id
  StudyResult result;
  std::vector<Pictures> pictures;  // one per result.series
};

// NAME names a file inside FOLDER (relative, no "..") that exists.
bool IsFileInFolder(const std::filesystem::path& folder, const std::string& name);

// "#<series number>", or the series id without one.
std::string SeriesLabel(const SeriesResult& series);

// What failed the study as a whole: it has no results (its worker died, a stage threw) or no SR.
// Series and analyses that failed say so themselves.
std::vector<std::string> StudyFailures(const StudyResult& study);

// Every OUTDIR/studies/*/result.json but hidden (staging) folders', by folder name. Throws IoError
// naming the file when one cannot be read or is not a medpipe result.
std::vector<Study> ReadStudies(const std::filesystem::path& outdir);

}  // namespace medpipe::report
