#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "medpipe/core/files.h"
#include "medpipe/report/html_report.h"
#include "study_results.h"

namespace medpipe::report {
namespace {

constexpr const char* kHeader =
    "study_id,study_instance_uid,series_id,modality,model,task,status,label_or_class,value,decision,threshold,reason,"
    "surface_mm2,sphericity,centroid_x_mm,centroid_y_mm,centroid_z_mm,intensity_unit,intensity_mean,intensity_std,"
    "intensity_min,intensity_max,intensity_p5,intensity_p25,intensity_median,intensity_p75,intensity_p95,normal_low_ml,"
    "normal_high_ml";
constexpr const char* kIntensityStatistics[] = {"mean", "std", "min", "max", "p5", "p25", "median", "p75", "p95"};

// The columns after "reason": a label's shape and intensities, empty for other rows.
std::vector<std::string> FeatureFields(const nlohmann::json& label) {
  const auto number = [](const nlohmann::json& value) { return value.is_number() ? value.dump() : std::string(); };
  std::vector<std::string> fields = {number(label.value("surface_mm2", nlohmann::json())),
                                     number(label.value("sphericity", nlohmann::json()))};
  const auto centroid = label.value("centroid_mm", nlohmann::json::array());
  for (size_t k = 0; k < 3; ++k) fields.push_back(k < centroid.size() ? number(centroid[k]) : "");
  const auto intensity = label.value("intensity", nlohmann::json::object());
  fields.push_back(intensity.value("unit", ""));
  for (const char* statistic : kIntensityStatistics) fields.push_back(number(intensity.value(statistic, nlohmann::json())));
  return fields;
}

// WHERE (study and series), then REST, then the label's shape, intensities and normal range (empty
// for other rows).
std::vector<std::string> Fields(const std::vector<std::string>& where, const std::vector<std::string>& rest,
                                const Finding* label = nullptr) {
  std::vector<std::string> fields = where;
  fields.insert(fields.end(), rest.begin(), rest.end());
  const auto features = FeatureFields(label && label->label.is_object() ? label->label : nlohmann::json::object());
  fields.insert(fields.end(), features.begin(), features.end());
  const auto& range = label ? label->normal_range_ml : std::nullopt;
  for (size_t end = 0; end < 2; ++end) fields.push_back(range ? nlohmann::json((*range)[end]).dump() : "");
  return fields;
}

// A series that did not load: left out by design (a localizer, a screenshot; not a failure) or failed.
std::string NotLoadedStatus(const SeriesResult& series) {
  const Disposition disposition = series.disposition;
  return disposition == Disposition::SkippedByDesign ? DispositionName(disposition) : OutcomeName(Outcome::Failed);
}

// A decimal number such as -1.5e-3 (not strtod's "-inf" or hex, which a spreadsheet would evaluate).
bool IsNumber(const std::string& text) {
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return text.find_first_not_of("0123456789.eE+-") == std::string::npos && end == text.c_str() + text.size();
}

// A spreadsheet runs a cell that starts with = + - @ (or tab, CR) as a formula: such text from
// DICOM tags or file names gets a leading ' (OWASP CSV injection), numbers stay numbers.
std::string Neutralised(const std::string& text) {
  if (text.empty() || std::string_view("=+-@\t\r").find(text[0]) == std::string_view::npos || IsNumber(text))
    return text;
  return "'" + text;
}

// RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled.
std::string Field(const std::string& value) {
  const std::string text = Neutralised(value);
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string quoted = "\"";
  for (const char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string Row(const std::vector<std::string>& fields) {
  std::string row;
  for (size_t i = 0; i < fields.size(); ++i) row += (i ? "," : "") + Field(fields[i]);
  return row + "\r\n";
}

// OUTDIR/features.csv from STUDIES' embeddings, when there are any (see WriteResultsCsv).
void WriteFeaturesCsv(const std::filesystem::path& outdir, const std::vector<Study>& studies) {
  std::string rows;
  size_t count = 0, longest = 0;
  for (const auto& study : studies) {
    for (const auto& series : study.result.series) {
      for (const auto& analysis : series.analyses) {
        if (!analysis.json.contains("embedding")) continue;
        const auto& embedding = analysis.json["embedding"];
        std::vector<std::string> fields = {study.result.study_id, study.result.study_instance_uid, series.id,
                                           series.json.value("series_instance_uid", ""), series.modality, analysis.model,
                                           std::to_string(embedding.size())};
        for (const auto& value : embedding) fields.push_back(value.dump());
        rows += Row(fields);
        longest = std::max(longest, embedding.size());
        ++count;
      }
    }
  }
  if (count == 0) return;
  std::string header = "study_id,study_instance_uid,series_id,series_instance_uid,modality,model,dimension";
  for (size_t i = 0; i < longest; ++i) header += ",f" + std::to_string(i);
  WriteFileAtomically(outdir / "features.csv", header + "\r\n" + rows);
}

}  // namespace

size_t WriteResultsCsv(const std::filesystem::path& outdir) {
  std::string csv = std::string(kHeader) + "\r\n";
  size_t rows = 0;
  const auto add = [&](const std::vector<std::string>& fields) {
    csv += Row(fields);
    ++rows;
  };
  const auto studies = ReadStudies(outdir);
  for (const auto& study : studies) {
    const StudyResult& result = study.result;
    for (const auto& reason : StudyFailures(result))
      add(Fields({result.study_id, result.study_instance_uid, "", ""}, {"", "", "failed", "", "", "", "", reason}));
    for (const auto& series : result.series) {
      const std::vector<std::string> where = {result.study_id, result.study_instance_uid, series.id, series.modality};
      const auto with = [&](const std::vector<std::string>& rest, const Finding* label = nullptr) {
        return Fields(where, rest, label);
      };
      if (series.disposition != Disposition::Accepted) add(with({"", "", NotLoadedStatus(series), "", "", "", "", series.error}));
      for (const auto& analysis : series.analyses) {
        const std::string status = OutcomeName(analysis.outcome);
        const auto findings = FindingsOf(analysis);
        if (findings.empty()) add(with({analysis.model, analysis.task, status, "", "", "", "", analysis.reason}));
        for (const auto& finding : findings) {
          const auto& decision = finding.decision;
          const bool threshold = decision && decision->threshold;
          add(with({analysis.model, analysis.task, status, finding.name, nlohmann::json(finding.value).dump(),
                    decision ? VerdictName(decision->verdict) : "",
                    threshold ? nlohmann::json(*decision->threshold).dump() : "", ""},
                   &finding));
        }
      }
    }
  }
  WriteFileAtomically(outdir / "results.csv", csv);
  WriteFeaturesCsv(outdir, studies);
  return rows;
}

}  // namespace medpipe::report
