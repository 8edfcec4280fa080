#include "study_results.h"

#include <algorithm>

#include "medpipe/core/error.h"
#include "medpipe/core/files.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::report {
namespace {

// The series overlay first, then each analysis' own, each once.
std::vector<std::string> OverlayNames(const SeriesResult& series) {
  std::vector<std::string> names;
  if (series.overlay) names.push_back(*series.overlay);
  for (const Analysis& analysis : series.analyses) {
    const auto overlay = analysis.outputs.find("overlay");
    if (overlay != analysis.outputs.end() && std::find(names.begin(), names.end(), overlay->second) == names.end())
      names.push_back(overlay->second);
  }
  return names;
}

Study StudyOf(const fs::path& folder) {
  const fs::path path = folder / "result.json";
  try {
    Study study{folder.filename().string(), json::parse(ReadFile(path)).get<StudyResult>(), {}};
    for (const SeriesResult& series : study.result.series) {
      Pictures& pictures = study.pictures.emplace_back();
      for (const auto& name : OverlayNames(series))
        (IsFileInFolder(folder, name) ? pictures.images : pictures.missing).push_back(name);
    }
    return study;
  } catch (const json::exception& error) {
    throw IoError(path.string(), std::string("is not a medpipe result: ") + error.what());
  }
}

}  // namespace

bool IsFileInFolder(const fs::path& folder, const std::string& name) {
  const fs::path relative(name);
  if (name.empty() || !relative.is_relative()) return false;
  if (std::any_of(relative.begin(), relative.end(), [](const fs::path& part) { return part == ".."; })) return false;
  return fs::is_regular_file(folder / relative);
}

std::vector<Finding> FindingsOf(const Analysis& analysis) {
  std::vector<Finding> findings;
  if (analysis.outcome != Outcome::Ok) return findings;
  for (const LabelResult& label : analysis.labels) findings.push_back({label.name, label.volume_ml, std::nullopt, label.json, label.normal_range_ml});
  if (analysis.decision) findings.push_back({analysis.decision->class_name, analysis.decision->probability, analysis.decision, {}, std::nullopt});
  return findings;
}

std::string SeriesLabel(const SeriesResult& series) {
  // SeriesNumber is optional in DICOM, and the index records a missing one as 0.
  std::string label = series.series_number.value_or(0) > 0 ? "#" + std::to_string(*series.series_number) : "";
  if (!series.description.empty()) label += (label.empty() ? "'" : " '") + series.description + "'";
  return label.empty() ? series.id : label;
}

std::vector<std::string> StudyFailures(const StudyResult& study) {
  std::vector<std::string> reasons;
  if (!study.error.empty()) reasons.push_back(study.error);
  if (!study.sr_error.empty()) reasons.push_back("sr: " + study.sr_error);
  return reasons;
}

std::vector<Study> ReadStudies(const fs::path& outdir) {
  const fs::path studies_dir = outdir / "studies";
  std::vector<fs::path> folders;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(studies_dir, ec)) {
    if (entry.is_directory() && entry.path().filename().string().front() != '.') folders.push_back(entry.path());
  }
  // A run that found no study has no studies folder; any other failure to list it is an error.
  if (ec && ec != std::errc::no_such_file_or_directory) throw IoError(studies_dir.string(), "cannot be listed: " + ec.message());
  std::sort(folders.begin(), folders.end());
  std::vector<Study> studies;
  for (const auto& folder : folders) studies.push_back(StudyOf(folder));
  return studies;
}

}  // namespace medpipe::report
