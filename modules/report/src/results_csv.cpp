#include <cstdlib>
#include <string_view>

#include "medpipe/core/files.h"
#include "medpipe/report/html_report.h"
#include "study_results.h"

namespace medpipe::report {
namespace {

constexpr const char* kHeader =
    "study_id,study_instance_uid,series_id,modality,model,task,status,label_or_class,value,decision,reason";

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

}  // namespace

size_t WriteResultsCsv(const std::filesystem::path& outdir) {
  std::string csv = std::string(kHeader) + "\r\n";
  size_t rows = 0;
  const auto add = [&](const std::vector<std::string>& fields) {
    csv += Row(fields);
    ++rows;
  };
  for (const auto& study : ReadStudies(outdir)) {
    for (const auto& series : study.series) {
      const std::vector<std::string> where = {study.id, study.study_instance_uid, series.id, series.modality};
      const auto with = [&](std::vector<std::string> rest) {
        std::vector<std::string> fields = where;
        fields.insert(fields.end(), rest.begin(), rest.end());
        return fields;
      };
      if (!series.loaded) add(with({"", "", "failed", "", "", "", series.error}));
      for (const auto& analysis : series.analyses) {
        const std::string status = OutcomeName(analysis.outcome);
        if (analysis.findings.empty()) add(with({analysis.model, analysis.task, status, "", "", "", analysis.reason}));
        for (const auto& finding : analysis.findings)
          add(with({analysis.model, analysis.task, status, finding.name, nlohmann::json(finding.value).dump(),
                    finding.decision, ""}));
      }
    }
  }
  WriteFileAtomically(outdir / "results.csv", csv);
  return rows;
}

}  // namespace medpipe::report
