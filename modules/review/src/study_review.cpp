#include "medpipe/review/study_review.h"

#include <algorithm>

#include "medpipe/core/digest.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::review {
namespace {

// "<sha256> <name>" of the file NAME in FOLDER, or "absent <name>".
std::string FileLine(const fs::path& folder, const std::string& name) {
  std::error_code ec;
  const fs::path path = folder / name;
  if (!fs::is_regular_file(path, ec)) return "absent " + name + "\n";
  return Sha256File(path) + " " + name + "\n";
}

// NAME stays inside the study folder.
bool IsPlainName(const std::string& name) {
  const fs::path relative(name);
  return !name.empty() && relative.is_relative() &&
         std::none_of(relative.begin(), relative.end(), [](const fs::path& part) { return part == ".."; });
}

}  // namespace

std::string AnalysisKey(const SeriesResult& series, const Analysis& analysis) { return series.id + "/" + analysis.model; }

std::string StudyDigest(const fs::path& study_folder) {
  std::vector<std::string> names = {"result.json"};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(study_folder, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".dcm") names.push_back(entry.path().filename().string());
  std::sort(names.begin() + 1, names.end());
  std::string lines;
  for (const auto& name : names) lines += FileLine(study_folder, name);
  return Sha256Hex(lines);
}

std::string AnalysisDigest(const fs::path& study_folder, const Analysis& analysis) {
  std::string lines = Sha256Hex(analysis.json.dump()) + " result.json entry\n";
  for (const auto& [kind, name] : analysis.outputs)
    if (IsPlainName(name)) lines += kind + " " + FileLine(study_folder, name);
  return Sha256Hex(lines);
}

StudyReview ReviewOf(const fs::path& study_folder, const StudyResult& study, const std::vector<ReviewEntry>& ledger) {
  StudyReview review;
  for (const auto& entry : ledger)
    if (entry.study_id == study.study_id) review.history.push_back(entry);
  review.study.sha256 = StudyDigest(study_folder);
  review.study.state = StateOf(review.history, study.study_id, "", review.study.sha256);
  for (const SeriesResult& series : study.series) {
    for (const Analysis& analysis : series.analyses) {
      if (analysis.outcome == Outcome::Skipped) continue;
      const std::string key = AnalysisKey(series, analysis);
      TargetReview& target = review.analyses[key];
      target.sha256 = AnalysisDigest(study_folder, analysis);
      target.state = StateOf(review.history, study.study_id, key, target.sha256);
    }
  }
  return review;
}

json EntryJson(const ReviewEntry& entry) {
  return {{"analysis", entry.analysis}, {"decision", SignoffName(entry.signoff)}, {"reviewer", entry.reviewer},
          {"organization", entry.organization}, {"comment", entry.comment}, {"time", entry.time},
          {"sha256", entry.sha256}};
}

json ReviewJson(const StudyReview& review) {
  json analyses = json::object();
  for (const auto& [key, target] : review.analyses)
    analyses[key] = {{"sha256", target.sha256}, {"state", ReviewStateName(target.state)}};
  json history = json::array();
  for (const auto& entry : review.history) history.push_back(EntryJson(entry));
  return {{"sha256", review.study.sha256}, {"state", ReviewStateName(review.study.state)},
          {"analyses", analyses}, {"history", history}};
}

}  // namespace medpipe::review
