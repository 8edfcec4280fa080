#include "study_results.h"

#include <algorithm>

#include "medpipe/core/error.h"
#include "medpipe/core/files.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::report {
namespace {

std::vector<Finding> FindingsOf(const json& analysis) {
  std::vector<Finding> findings;
  for (const auto& label : analysis.value("labels", json::array()))
    findings.push_back({label.at("name"), label.at("volume_ml"), std::nullopt, label});
  if (analysis.contains("decision")) {
    const auto decision = analysis["decision"].get<Decision>();
    findings.push_back({decision.class_name, decision.probability, decision, {}});
  }
  return findings;
}

Analysis AnalysisOf(const json& entry) {
  Analysis analysis{entry.at("model"), entry.at("task"), Outcome::Ok, "",
                    entry.value("fallbacks", std::vector<std::string>{}), {}, entry};
  if (entry.contains("error")) {
    analysis.outcome = Outcome::Failed;
    analysis.reason = entry["error"];
  } else if (entry.contains("skipped")) {
    analysis.outcome = Outcome::Skipped;
    analysis.reason = entry["skipped"];
  } else {
    analysis.findings = FindingsOf(entry);
  }
  return analysis;
}

// NAME names a file inside FOLDER (relative, no "..") that exists.
bool IsFileInFolder(const fs::path& folder, const std::string& name) {
  const fs::path relative(name);
  if (name.empty() || !relative.is_relative()) return false;
  if (std::any_of(relative.begin(), relative.end(), [](const fs::path& part) { return part == ".."; })) return false;
  return fs::is_regular_file(folder / relative);
}

// The series overlay first, then each analysis' own, each once.
std::vector<std::string> OverlayNames(const json& series) {
  std::vector<std::string> names;
  if (series.contains("overlay")) names.push_back(series["overlay"]);
  for (const auto& analysis : series.at("analyses")) {
    const auto outputs = analysis.value("outputs", json::object());
    if (!outputs.contains("overlay")) continue;
    const std::string name = outputs["overlay"];
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  return names;
}

Series SeriesOf(const json& entry, const fs::path& folder) {
  Series series{entry.at("id"), "", entry.at("modality"), entry.at("loaded"), entry.value("error", ""),
                entry.at("problems"), {}, {}, {}, entry};
  series.label = entry.contains("series_number") ? "#" + std::to_string(entry["series_number"].get<int>()) : series.id;
  for (const auto& name : OverlayNames(entry)) (IsFileInFolder(folder, name) ? series.images : series.missing).push_back(name);
  for (const auto& analysis : entry.at("analyses")) series.analyses.push_back(AnalysisOf(analysis));
  return series;
}

Study StudyOf(const fs::path& folder) {
  const fs::path path = folder / "result.json";
  try {
    const json result = json::parse(ReadFile(path));
    Study study{folder.filename().string(), result.at("study_id"), result.value("study_instance_uid", ""),
                result.at("status"), {}, result};
    for (const auto& series : result.at("series")) study.series.push_back(SeriesOf(series, folder));
    return study;
  } catch (const json::exception& error) {
    throw IoError(path.string(), std::string("is not a medpipe result: ") + error.what());
  }
}

}  // namespace

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
