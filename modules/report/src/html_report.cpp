#include "medpipe/report/html_report.h"

#include <algorithm>

#include "html_page.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "slice_viewer.h"
#include "study_results.h"

namespace fs = std::filesystem;

namespace medpipe::report {
namespace {

// Something a reviewer should look at; KIND is problem, error, skipped, fallback or missing.
struct Flag {
  std::string kind, text;
};

std::string ProblemLine(const Problem& problem) {
  return problem.detail.empty() ? problem.code : problem.code + ": " + problem.detail;
}

// A series left out by design (a localizer, a screenshot) is no failure: one "skipped" flag says why.
std::vector<Flag> SeriesFlags(const SeriesResult& series, const Pictures& pictures) {
  std::vector<Flag> flags;
  if (series.disposition == Disposition::SkippedByDesign) {
    for (const Problem& problem : series.problems) flags.push_back({"skipped", ProblemLine(problem)});
    return flags;
  }
  for (const Problem& problem : series.problems) flags.push_back({"problem", ProblemLine(problem)});
  if (!series.error.empty()) flags.push_back({"error", series.error});
  for (const auto& name : pictures.missing) flags.push_back({"missing", "overlay " + name});
  for (const auto& analysis : series.analyses) {
    if (analysis.outcome == Outcome::Failed) flags.push_back({"error", analysis.model + ": " + analysis.reason});
    if (analysis.outcome == Outcome::Skipped) flags.push_back({"skipped", analysis.model + ": " + analysis.reason});
    for (const auto& fallback : analysis.fallbacks) flags.push_back({"fallback", analysis.model + ": " + fallback});
  }
  return flags;
}

std::vector<Flag> FailureFlags(const StudyResult& study) {
  std::vector<Flag> flags;
  for (const auto& reason : StudyFailures(study)) flags.push_back({"error", reason});
  return flags;
}

// What failed the study as a whole, then each series' flags, named by series when the study has several.
std::vector<Flag> StudyFlags(const Study& study) {
  std::vector<Flag> flags = FailureFlags(study.result);
  const auto& series = study.result.series;
  for (size_t i = 0; i < series.size(); ++i) {
    for (auto flag : SeriesFlags(series[i], study.pictures[i])) {
      if (series.size() > 1) flag.text = SeriesLabel(series[i]) + " " + flag.text;
      flags.push_back(flag);
    }
  }
  return flags;
}

std::string StatusName(const StudyResult& study) { return study.ok ? "ok" : "failed"; }

std::string FlagList(const std::vector<Flag>& flags) {
  std::string html = "<ul>";
  for (const auto& flag : flags)
    html += "<li class=\"flag-" + flag.kind + "\">" + flag.kind + ": " + Escape(flag.text) + "</li>";
  return html + "</ul>";
}

std::string StatusHtml(const std::string& status) {
  return "<span class=\"status " + Escape(status) + "\">" + Escape(status) + "</span>";
}

// Every model any study ran, in order of first appearance.
std::vector<std::string> ModelNames(const std::vector<Study>& studies) {
  std::vector<std::string> names;
  for (const auto& study : studies)
    for (const auto& series : study.result.series)
      for (const auto& analysis : series.analyses)
        if (std::find(names.begin(), names.end(), analysis.model) == names.end()) names.push_back(analysis.model);
  return names;
}

// MODEL's key numbers in STUDY, a line per finding (or outcome when there is none); sorts by the first.
std::string ModelCell(const Study& study, const std::string& model) {
  std::string lines, sort_key;
  for (const auto& series : study.result.series) {
    const std::string prefix = study.result.series.size() > 1 ? Escape(SeriesLabel(series)) + " " : "";
    for (const auto& analysis : series.analyses) {
      if (analysis.model != model) continue;
      const auto findings = FindingsOf(analysis);
      for (const auto& finding : findings) {
        if (sort_key.empty()) sort_key = std::to_string(finding.value);
        lines += "<li>" + prefix + Escape(FindingText(finding)) + "</li>";
      }
      if (findings.empty()) lines += "<li>" + prefix + StatusHtml(OutcomeName(analysis.outcome)) + "</li>";
    }
  }
  if (lines.empty()) return "<td data-sort=\"\"><span class=\"none\">not run</span></td>";
  return "<td data-sort=\"" + sort_key + "\"><ul>" + lines + "</ul></td>";
}

std::string Thumbnail(const Study& study) {
  for (const Pictures& pictures : study.pictures) {
    if (pictures.images.empty()) continue;
    return "<img loading=\"lazy\" width=\"160\" alt=\"overlay\" src=\"" +
           UrlPath("studies/" + study.folder + "/" + pictures.images.front()) + "\">";
  }
  return "<span class=\"none\">no overlay</span>";
}

std::string StudyPageName(const Study& study) { return "report/" + study.folder + ".html"; }

std::string StudyRow(const Study& study, const std::vector<std::string>& models) {
  const std::string page = UrlPath(StudyPageName(study));
  const auto flags = StudyFlags(study);
  std::string row = "<tr><td data-sort=\"\">" + Thumbnail(study) + "</td><td><a href=\"" + page + "\">" +
                    Escape(study.result.study_id) + "</a></td><td>" + StatusHtml(StatusName(study.result)) +
                    "</td><td>" + std::to_string(study.result.series.size()) + "</td>";
  for (const auto& model : models) row += ModelCell(study, model);
  return row + "<td data-sort=\"" + std::to_string(flags.size()) + "\">" + FlagList(flags) + "</td><td><a href=\"" +
         page + "\">details</a></td></tr>\n";
}

std::string IndexPage(const std::vector<Study>& studies) {
  const auto failed = std::count_if(studies.begin(), studies.end(), [](const Study& s) { return !s.result.ok; });
  const auto models = ModelNames(studies);
  std::string body = "<h1>medpipe report</h1>\n<p class=\"summary\">" + std::to_string(studies.size()) +
                     " studies, " + std::to_string(failed) + " failed. Click a column header to sort.</p>\n" +
                     "<table class=\"sortable\" id=\"studies\">\n<thead><tr><th>overlay</th><th>study</th>"
                     "<th>status</th><th>series</th>";
  for (const auto& model : models) body += "<th>" + Escape(model) + "</th>";
  body += "<th>flags</th><th>page</th></tr></thead>\n<tbody>\n";
  for (const auto& study : studies) body += StudyRow(study, models);
  return Page("medpipe report", body + "</tbody>\n</table>");
}

std::string AnalysisSection(const Analysis& analysis) {
  std::string html = "<h3>" + Escape(analysis.model) + " (" + Escape(analysis.task) + ") " +
                     StatusHtml(OutcomeName(analysis.outcome)) + "</h3>";
  const auto findings = FindingsOf(analysis);
  if (!findings.empty()) {
    html += "<ul>";
    for (const auto& finding : findings) html += "<li>" + Escape(FindingText(finding)) + "</li>";
    html += "</ul>";
  }
  return html + JsonHtml(analysis.json);
}

std::string SeriesSection(const Study& study, const SeriesResult& series, const Pictures& pictures,
                          const std::string& viewer) {
  static const char* kTaken[] = {"loaded", "left out by design", "not loaded"};
  std::string html = "<section class=\"series\"><h2>Series " + Escape(SeriesLabel(series)) + " &middot; " +
                     Escape(series.modality.empty() ? "no modality" : series.modality) + " &middot; " +
                     kTaken[static_cast<int>(series.disposition)] + "</h2>";
  const auto flags = SeriesFlags(series, pictures);
  if (!flags.empty()) html += FlagList(flags);
  html += viewer + "<div class=\"overlays\">";
  for (const auto& image : pictures.images)
    html += "<img loading=\"lazy\" alt=\"" + Escape(image) + "\" src=\"" +
            UrlPath("../studies/" + study.folder + "/" + image) + "\">";
  html += "</div>";
  for (const auto& analysis : series.analyses) html += AnalysisSection(analysis);
  nlohmann::json details = series.json;
  details.erase("analyses");
  return html + "<h3>Series details</h3>" + JsonHtml(details) + "</section>\n";
}

// The study's page, writing each series' viewer data beside it.
std::string StudyPage(const fs::path& outdir, const Study& study, bool viewer_installed) {
  const StudyResult& result = study.result;
  nlohmann::json details = result.json;
  details.erase("series");
  std::string body = "<p><a href=\"../report.html\">&larr; all studies</a></p>\n<h1>Study " +
                     Escape(result.study_id) + " " + StatusHtml(StatusName(result)) + "</h1>\n<p class=\"summary\">" +
                     Escape(result.study_instance_uid) + "</p>\n";
  const auto failures = FailureFlags(result);
  if (!failures.empty()) body += FlagList(failures);
  PageScripts scripts;
  for (size_t i = 0; i < result.series.size(); ++i) {
    const SeriesViewer viewer = WriteSeriesViewer(outdir, study, result.series[i], viewer_installed);
    if (!viewer.data_script.empty()) scripts.files.push_back(viewer.data_script);
    body += SeriesSection(study, result.series[i], study.pictures[i], viewer.html);
  }
  if (!scripts.files.empty()) {
    scripts.files.insert(scripts.files.begin(), kViewerBundle);
    scripts.inline_script = ViewerScript();
  }
  return Page("Study " + result.study_id, body + "<h2>Study details</h2>" + JsonHtml(details), scripts);
}

}  // namespace

size_t WriteHtmlReport(const fs::path& outdir) {
  const auto studies = ReadStudies(outdir);
  std::error_code ec;
  fs::create_directories(outdir / "report", ec);
  if (ec) throw IoError((outdir / "report").string(), "cannot create folder: " + ec.message());
  const bool viewer_installed = InstallViewer(outdir);
  for (const auto& study : studies) WriteFileAtomically(outdir / StudyPageName(study), StudyPage(outdir, study, viewer_installed));
  WriteFileAtomically(outdir / "report.html", IndexPage(studies));
  return studies.size();
}

}  // namespace medpipe::report
