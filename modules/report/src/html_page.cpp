#include "html_page.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

#include "medpipe/core/digest.h"

namespace medpipe::report {
namespace {

constexpr const char* kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2733; background: #f5f7fa; }
h1 { font-size: 1.5em; margin: 0 0 .3em; }
h2 { font-size: 1.2em; margin: 1.5em 0 .4em; }
h3 { font-size: 1em; margin: 1em 0 .3em; }
a { color: #0b5cad; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid #d5dbe3; padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #e4e9f0; position: sticky; top: 0; }
table.sortable thead th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort=ascending]::after { content: " \25B2"; }
table.sortable th[aria-sort=descending]::after { content: " \25BC"; }
tbody tr:nth-child(even) { background: #f9fafc; }
ul { margin: 0; padding-left: 1.1em; }
.status { font-weight: 600; padding: 1px 6px; border-radius: 3px; }
.status.ok { background: #d9f2e1; color: #17603a; }
.status.failed { background: #fbdcdc; color: #a11d1d; }
.status.skipped { background: #eceff3; color: #5a6573; }
.flag-error { color: #a11d1d; }
.flag-fallback, .flag-missing { color: #9a5b00; }
.verification { display: inline-block; padding: .2em .6em; border-radius: 4px; font-weight: 600; }
.verification.unverified { background: #fff3cd; color: #7a5200; }
.verification.verified { background: #dff3e4; color: #1d6b34; }
details.raw summary { cursor: pointer; color: #4a5562; }
.flag-problem { color: #6b4aa1; }
.flag-skipped { color: #5a6573; }
.none { color: #8a94a0; }
.summary { color: #4a5562; }
#studies img { max-height: 320px; max-width: 320px; object-fit: contain; object-position: left top; }
#studies tr[hidden] { display: none; }
.filters { margin: .8em 0; }
.filters label { margin-right: .8em; }
.review-accepted { color: #17603a; font-weight: 600; }
.review-rejected { color: #a11d1d; font-weight: 600; }
.review-unreviewed { color: #5a6573; }
.flag-outlier { color: #c0392b; }
.signoff { background: #eef3f9; border: 1px solid #c8d3e0; padding: .4em .8em; margin: .5em 0; }
.signoff[hidden] { display: none; }
.signoff-history { color: #4a5562; }
.signoff-message { margin-left: .5em; }
details.cohort summary { cursor: pointer; font-weight: 600; margin: .5em 0; }
.cohort-plots { display: flex; flex-wrap: wrap; gap: 1em; }
.cohort-plot { background: #fff; border: 1px solid #d5dbe3; margin: 0; padding: .4em; max-width: 660px; }
.cohort-plot figcaption { font-size: 13px; margin-bottom: .2em; }
svg.cohort { font-size: 10px; fill: #1d2733; }
svg.cohort .axis { stroke: #5a6573; }
svg.cohort .normal { fill: #d9f2e1; }
svg.cohort .box { fill: #dbe6f3; stroke: #0b5cad; }
svg.cohort .whisker { stroke: #0b5cad; }
svg.cohort .fence { stroke: #9a5b00; stroke-dasharray: 4 3; }
svg.cohort .median { stroke: #0b5cad; stroke-width: 3; }
svg.cohort .point { fill: #1d2733; fill-opacity: .6; }
svg.cohort .point.outlier { fill: #c0392b; fill-opacity: 1; }
svg.cohort .bar { fill: #8aa9cc; }
svg.cohort .bar.positive { fill: #c0392b; }
svg.cohort .threshold { stroke: #a11d1d; stroke-width: 2; stroke-dasharray: 5 3; }
.overlays img { max-width: 100%; max-height: 90vh; display: block; margin: .5em 0; border: 1px solid #d5dbe3; }
.series { background: #fff; border: 1px solid #d5dbe3; padding: .2em 1em 1em; margin: 1em 0; }
table.kv th { background: #f0f3f7; font-weight: 500; }
.label-table { max-width: 100%; overflow-x: auto; margin: .3em 0; }
table.labels td { white-space: nowrap; }
table.labels td.name { white-space: normal; overflow-wrap: anywhere; min-width: 8em; }
table.labels tr.outside-range td { background: #fdecea; }
.viewer { margin: .5em 0 1em; }
.viewer-tools { margin: .3em 0; line-height: 2.2; }
.viewer-group { margin-right: 1em; white-space: nowrap; }
.viewer-tools button[aria-pressed=true] { font-weight: 600; }
.viewer-frame { height: 520px; max-width: 1200px; background: #000; }
.viewer-canvas { width: 100%; height: 100%; display: block; outline: none; }
.viewer-swatch { display: inline-block; width: 1em; height: 1em; vertical-align: middle; border: 1px solid #1d2733; }
.viewer-legend { margin-top: .5em; }
.viewer-legend caption { text-align: left; font-weight: 600; padding: .2em 0; }
.viewer-finding { margin: .3em 0; }
svg.viewer-scale { vertical-align: middle; font-size: 11px; }
)";

// Numbers sort as numbers, everything else as text with digit runs compared by value.
constexpr const char* kScript = R"(
const asNumber = text => (text.trim() === '' ? NaN : Number(text));
const compare = (a, b) => {
  const x = asNumber(a), y = asNumber(b);
  return isNaN(x) || isNaN(y) ? a.localeCompare(b, undefined, {numeric: true}) : x - y;
};
for (const table of document.querySelectorAll('table.sortable')) {
  const headers = [...table.tHead.rows[0].cells];
  headers.forEach((header, column) => header.addEventListener('click', () => {
    const descending = header.getAttribute('aria-sort') === 'ascending';
    headers.forEach(other => other.removeAttribute('aria-sort'));
    header.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    const key = row => row.cells[column].dataset.sort ?? row.cells[column].textContent.trim();
    const body = table.tBodies[0];
    body.append(...[...body.rows].sort((a, b) => compare(key(a), key(b)) * (descending ? -1 : 1)));
  }));
}
)";

// Raw values for the folded details: text as it is, numbers to six significant digits.
std::string ScalarHtml(const nlohmann::json& value) {
  if (value.is_number_float()) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value.get<double>());
    return text;
  }
  return Escape(value.is_string() ? value.get<std::string>() : value.dump());
}

std::string ObjectTable(const nlohmann::json& object) {
  std::string html = "<table class=\"kv\">";
  for (const auto& [key, item] : object.items()) html += "<tr><th>" + Escape(key) + "</th><td>" + JsonHtml(item) + "</td></tr>";
  return html + "</table>";
}

// Columns in order of first appearance across the rows.
std::string RowsTable(const nlohmann::json& rows) {
  std::vector<std::string> columns;
  for (const auto& row : rows)
    for (const auto& [key, item] : row.items())
      if (std::find(columns.begin(), columns.end(), key) == columns.end()) columns.push_back(key);
  std::string html = "<table><thead><tr>";
  for (const auto& column : columns) html += "<th>" + Escape(column) + "</th>";
  html += "</tr></thead><tbody>";
  for (const auto& row : rows) {
    html += "<tr>";
    for (const auto& column : columns) html += "<td>" + (row.contains(column) ? JsonHtml(row[column]) : "") + "</td>";
    html += "</tr>";
  }
  return html + "</tbody></table>";
}

}  // namespace

std::string Escape(std::string_view text) {
  std::string escaped;
  escaped.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      case '\'': escaped += "&#39;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

std::string UrlPath(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string url;
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      url += c;
    } else {
      url += {'%', kHex[byte >> 4], kHex[byte & 15]};
    }
  }
  return url;
}

std::string FindingText(const Finding& finding) {
  if (finding.decision) return DecisionText(*finding.decision);
  return finding.name + " " + VolumeText(finding.value);
}

std::string VolumeText(double ml) {
  char text[32];
  if (std::fabs(ml) >= 100) std::snprintf(text, sizeof text, "%.0f mL", ml);
  else std::snprintf(text, sizeof text, "%.3g mL", ml);
  return text;
}

std::string RawDetails(const nlohmann::json& value) {
  return "<details class=\"raw\"><summary>raw details</summary>" + JsonHtml(value) + "</details>";
}

std::string JsonHtml(const nlohmann::json& value) {
  if (value.is_object()) return ObjectTable(value);
  if (!value.is_array()) return ScalarHtml(value);
  if (!value.empty() && std::all_of(value.begin(), value.end(), [](const auto& item) { return item.is_object(); }))
    return RowsTable(value);
  std::string html;
  for (size_t i = 0; i < value.size(); ++i) html += (i ? ", " : "") + JsonHtml(value[i]);
  return html;
}

// Only the page's own style and scripts run (inline ones pinned by hash), nothing loads from the
// network (connect-src 'self': the sign-off API of `medpipe review` serving the page), and a script
// that slipped into DICOM-derived text would be refused even if escaping failed.
std::string ContentSecurityPolicy(const PageScripts& scripts) {
  std::string script_src = "'sha256-" + Sha256Base64(kScript) + "'";
  if (!scripts.inline_script.empty()) script_src += " 'sha256-" + Sha256Base64(scripts.inline_script) + "'";
  if (!scripts.files.empty()) script_src += " 'self'";
  return "default-src 'none'; script-src " + script_src + "; style-src 'sha256-" + Sha256Base64(kStyle) +
         "'; img-src 'self' file: data:; connect-src 'self'; base-uri 'none'; form-action 'none'";
}

std::string Page(const std::string& title, const std::string& body, const PageScripts& scripts) {
  std::string tail = "\n<script>" + std::string(kScript) + "</script>\n";
  for (const auto& file : scripts.files) tail += "<script src=\"" + UrlPath(file) + "\"></script>\n";
  if (!scripts.inline_script.empty()) tail += "<script>" + scripts.inline_script + "</script>\n";
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta http-equiv=\"Content-Security-Policy\" content=\"" + ContentSecurityPolicy(scripts) + "\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<link rel=\"icon\" href=\"data:,\">\n<title>" +
         Escape(title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n" + body + tail + "</body>\n</html>\n";
}

}  // namespace medpipe::report
