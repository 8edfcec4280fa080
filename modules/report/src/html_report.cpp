#include "medpipe/report/html_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "cohort_plots.h"
#include "html_page.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/review/study_review.h"
#include "review_controls.h"
#include "slice_viewer.h"
#include "study_results.h"

namespace fs = std::filesystem;

namespace medpipe::report {
namespace {

// Something a reviewer should look at; KIND is problem, error, skipped, fallback, missing or outlier.
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
    return "<img loading=\"lazy\" width=\"320\" alt=\"overlay\" src=\"" +
           UrlPath("studies/" + study.folder + "/" + pictures.images.front()) + "\">";
  }
  return "<span class=\"none\">no overlay</span>";
}

std::string StudyPageName(const Study& study) { return "report/" + study.folder + ".html"; }

// What the batch page knows of a study besides its result: outliers among the batch, its review.
struct RowFacts {
  std::vector<std::string> outliers;
  std::string review;  // ReviewStateName, as review.jsonl had it when the page was written
};

// The batch page lists what a reviewer must look at; series and models skipped by design are counted.
std::vector<Flag> RowFlags(const Study& study, const RowFacts& facts) {
  std::vector<Flag> flags;
  for (auto& flag : StudyFlags(study))
    if (flag.kind != "skipped") flags.push_back(std::move(flag));
  for (const auto& outlier : facts.outliers) flags.push_back({"outlier", outlier});
  return flags;
}

size_t SkippedSeries(const Study& study) {
  return std::count_if(study.result.series.begin(), study.result.series.end(),
                       [](const SeriesResult& series) { return series.disposition == Disposition::SkippedByDesign; });
}

// The models that ran on the study (not those that skipped it), as a JSON array for the model filter.
std::string RanModels(const Study& study) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& series : study.result.series)
    for (const auto& analysis : series.analyses)
      if (analysis.outcome != Outcome::Skipped && std::find(models.begin(), models.end(), analysis.model) == models.end())
        models.push_back(analysis.model);
  return models.dump();
}

std::string StudyRow(const Study& study, const std::vector<std::string>& models, const RowFacts& facts) {
  const std::string page = UrlPath(StudyPageName(study));
  const auto flags = RowFlags(study, facts);
  const std::string status = StatusName(study.result);
  std::string row = "<tr data-study=\"" + Escape(study.folder) + "\" data-status=\"" + status + "\" data-flagged=\"" +
                    (flags.empty() ? "false" : "true") + "\" data-review=\"" + facts.review + "\" data-models=\"" +
                    Escape(RanModels(study)) + "\"><td data-sort=\"\">" + Thumbnail(study) + "</td><td><a href=\"" + page +
                    "\">" + Escape(study.result.study_id) + "</a></td><td>" + StatusHtml(status) + "</td><td>" +
                    std::to_string(study.result.series.size()) + "</td><td>" + std::to_string(SkippedSeries(study)) + "</td>";
  for (const auto& model : models) row += ModelCell(study, model);
  return row + "<td data-sort=\"" + std::to_string(flags.size()) + "\">" + FlagList(flags) +
         "</td><td class=\"review-state review-" + facts.review + "\" data-sort=\"" + facts.review + "\">" + facts.review +
         "</td><td><a href=\"" + page + "\">details</a></td></tr>\n";
}

// Each study's review state from OUTDIR/review.jsonl (all unreviewed without one).
std::map<std::string, std::string> ReviewStates(const fs::path& outdir, const std::vector<Study>& studies) {
  std::map<std::string, std::string> states;
  const auto ledger = review::ReadReviews(outdir);
  for (const auto& study : studies) {
    const bool any = std::any_of(ledger.begin(), ledger.end(), [&](const auto& entry) { return entry.study_id == study.folder; });
    states[study.folder] = any ? review::ReviewStateName(review::ReviewOf(outdir / "studies" / study.folder, study.result, ledger).study.state)
                               : review::ReviewStateName(review::ReviewState::Unreviewed);
  }
  return states;
}

std::string FilterBar(const std::vector<std::string>& models) {
  std::string html = "<form id=\"filters\" class=\"filters\">show ";
  for (const char* show : {"all", "failed", "flagged", "unreviewed"})
    html += std::string("<label><input type=\"radio\" name=\"show\" value=\"") + show + "\"" +
            (std::string(show) == "all" ? " checked" : "") + "> " + show + " (<span class=\"filter-count\" data-show=\"" +
            show + "\"></span>)</label> ";
  html += "<label>model <select id=\"filter-model\"><option value=\"\">any</option>";
  for (const auto& model : models) html += "<option value=\"" + Escape(model) + "\">" + Escape(model) + "</option>";
  return html + "</select></label> <output id=\"shown\"></output></form>\n";
}

std::string IndexPage(const std::vector<Study>& studies, const std::map<std::string, std::string>& states) {
  const auto failed = std::count_if(studies.begin(), studies.end(), [](const Study& s) { return !s.result.ok; });
  size_t skipped = 0;
  for (const auto& study : studies) skipped += SkippedSeries(study);
  const auto models = ModelNames(studies);
  const CohortPlots plots = DrawCohortPlots(studies);
  std::string rows;
  size_t flagged = 0, unreviewed = 0;
  for (const auto& study : studies) {
    const auto outliers = plots.outliers.find(study.folder);
    const RowFacts facts{outliers == plots.outliers.end() ? std::vector<std::string>{} : outliers->second, states.at(study.folder)};
    flagged += !RowFlags(study, facts).empty();
    unreviewed += facts.review == "unreviewed";
    rows += StudyRow(study, models, facts);
  }
  std::string body = "<h1>medpipe report</h1>\n<p class=\"summary\">" + std::to_string(studies.size()) + " studies: " +
                     std::to_string(failed) + " failed, " + std::to_string(flagged) + " flagged, " +
                     "<span id=\"summary-unreviewed\">" + std::to_string(unreviewed) + "</span> unreviewed; " + std::to_string(skipped) +
                     " series left out by design (counted, not flagged). Click a column header to sort. <span id=\"review-note\">"
                     "Review states as review.jsonl had them when this page was written.</span></p>\n" +
                     plots.html + FilterBar(models) +
                     "<table class=\"sortable\" id=\"studies\">\n<thead><tr><th>overlay</th><th>study</th>"
                     "<th>status</th><th>series</th><th>skipped</th>";
  for (const auto& model : models) body += "<th>" + Escape(model) + "</th>";
  body += "<th>flags</th><th>review</th><th>page</th></tr></thead>\n<tbody>\n" + rows;
  return Page("medpipe report", body + "</tbody>\n</table>", {{}, BatchScript()});
}

std::string Significant(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", value);
  return text;
}

// One row of a segmentation's label table: value, name, volume, the manifest's normal range (and
// whether the volume is outside it), voxels, connected components, mean intensity.
std::string LabelRow(const Finding& label) {
  const auto& range = label.normal_range_ml;
  const bool outside = range && (label.value < (*range)[0] || label.value > (*range)[1]);
  const auto number = [&](const char* key) {
    const auto it = label.label.find(key);
    return it != label.label.end() && it->is_number() ? it->dump() : std::string();
  };
  std::string intensity;
  if (const auto it = label.label.find("intensity"); it != label.label.end() && it->contains("mean"))
    intensity = Significant((*it)["mean"].get<double>()) + " " + it->value("unit", "");
  return std::string("<tr") + (outside ? " class=\"outside-range\"" : "") + "><td>" + number("value") + "</td><td class=\"name\">" +
         Escape(label.name) + "</td><td data-sort=\"" + nlohmann::json(label.value).dump() + "\">" + VolumeText(label.value) +
         "</td><td>" + (range ? Significant((*range)[0]) + " to " + Significant((*range)[1]) + " mL" : "") +
         (outside ? " <span class=\"flag-outlier\">outside</span>" : "") + "</td><td>" + number("voxels") + "</td><td>" +
         number("components") + "</td><td>" + Escape(intensity) + "</td></tr>";
}

// Every label of a segmentation, none cut off whatever their number; the page scrolls, not the table.
std::string LabelTable(const std::vector<Finding>& findings) {
  std::string rows;
  for (const auto& finding : findings)
    if (!finding.decision) rows += LabelRow(finding);
  if (rows.empty()) return "";
  return "<div class=\"label-table\"><table class=\"labels sortable\"><thead><tr><th>value</th><th>label</th><th>volume</th>"
         "<th>normal range</th><th>voxels</th><th>components</th><th>mean intensity</th></tr></thead><tbody>" +
         rows + "</tbody></table></div>";
}

std::string AnalysisSection(const Study& study, const SeriesResult& series, const Analysis& analysis) {
  std::string html = "<h3>" + Escape(analysis.model) + (analysis.version.empty() ? "" : " " + Escape(analysis.version)) +
                     " (" + Escape(analysis.task) + ") " + StatusHtml(OutcomeName(analysis.outcome)) + "</h3>";
  if (analysis.outcome != Outcome::Skipped) html += SignoffBlock(study.folder, review::AnalysisKey(series, analysis));
  const auto findings = FindingsOf(analysis);
  html += LabelTable(findings);
  std::string decisions;
  for (const auto& finding : findings)
    if (finding.decision) decisions += "<li>" + Escape(FindingText(finding)) + "</li>";
  if (!decisions.empty()) html += "<ul>" + decisions + "</ul>";
  return html + RawDetails(analysis.json);
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
  for (const auto& analysis : series.analyses) html += AnalysisSection(study, series, analysis);
  nlohmann::json details = series.json;
  details.erase("analyses");
  return html + RawDetails(details) + "</section>\n";
}

// "2026-03-01" of a DICOM date, else the text as it is.
std::string DateText(const std::string& date) {
  const bool dicom = date.size() == 8 && std::all_of(date.begin(), date.end(), [](char c) { return c >= '0' && c <= '9'; });
  return dicom ? date.substr(0, 4) + "-" + date.substr(4, 2) + "-" + date.substr(6, 2) : date;
}

// The study as a reviewer knows it: description, date, accession number, modalities, and whether a
// radiologist has accepted the AI result (REVIEW, as review.jsonl had it when the page was written).
std::string StudyHeading(const StudyResult& result, const std::string& review) {
  std::set<std::string> modalities;
  for (const auto& series : result.series)
    if (!series.modality.empty()) modalities.insert(series.modality);
  std::vector<std::string> facts;
  if (!result.study_date.empty()) facts.push_back(DateText(result.study_date));
  if (!result.accession_number.empty()) facts.push_back("accession " + result.accession_number);
  if (!modalities.empty()) {
    std::string joined;
    for (const auto& modality : modalities) joined += (joined.empty() ? "" : ", ") + modality;
    facts.push_back(joined);
  }
  facts.push_back("study " + result.study_id);
  std::string line;
  for (const auto& fact : facts) line += (line.empty() ? "" : " &middot; ") + Escape(fact);
  const bool verified = review == review::ReviewStateName(review::ReviewState::Accepted);
  return "<h1>" + Escape(result.study_description.empty() ? "Study" : result.study_description) + " " +
         StatusHtml(StatusName(result)) + "</h1>\n<p class=\"summary\">" + line + "</p>\n<p class=\"verification " +
         (verified ? "verified\">AI result, accepted by a reviewer" : "unverified\">AI result, not verified") + "</p>\n";
}

// The study's page, writing each series' viewer data beside it.
std::string StudyPage(const fs::path& outdir, const Study& study, const std::string& review, bool viewer_installed) {
  const StudyResult& result = study.result;
  nlohmann::json details = result.json;
  details.erase("series");
  std::string body = "<p><a href=\"../report.html\">&larr; all studies</a></p>\n" + StudyHeading(result, review) +
                     SignoffBlock(study.folder, "");
  const auto failures = FailureFlags(result);
  if (!failures.empty()) body += FlagList(failures);
  PageScripts scripts;
  for (size_t i = 0; i < result.series.size(); ++i) {
    const SeriesViewer viewer = WriteSeriesViewer(outdir, study, result.series[i], viewer_installed);
    if (!viewer.data_script.empty()) scripts.files.push_back(viewer.data_script);
    body += SeriesSection(study, result.series[i], study.pictures[i], viewer.html);
  }
  scripts.inline_script = SignoffScript();
  if (!scripts.files.empty()) {
    scripts.files.insert(scripts.files.begin(), kViewerBundle);
    scripts.inline_script += ViewerScript();
  }
  return Page("Study " + result.study_id, body + "<h2>Study details</h2>" + RawDetails(details), scripts);
}

}  // namespace

size_t WriteHtmlReport(const fs::path& outdir) {
  const auto studies = ReadStudies(outdir);
  std::error_code ec;
  fs::create_directories(outdir / "report", ec);
  if (ec) throw IoError((outdir / "report").string(), "cannot create folder: " + ec.message());
  const bool viewer_installed = InstallViewer(outdir);
  const auto states = ReviewStates(outdir, studies);
  for (const auto& study : studies)
    WriteFileAtomically(outdir / StudyPageName(study), StudyPage(outdir, study, states.at(study.folder), viewer_installed));
  WriteFileAtomically(outdir / "report.html", IndexPage(studies, states));
  return studies.size();
}

}  // namespace medpipe::report
