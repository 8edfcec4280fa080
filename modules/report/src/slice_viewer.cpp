#include "slice_viewer.h"

#include <openssl/evp.h>

#include <cmath>
#include <cstdio>

#include "html_page.h"
#include "medpipe/core/files.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::report {
namespace {

// A window preset: LEVEL and WIDTH in the image's unit (HU for CT), or the 2nd-98th percentile.
struct WindowPreset {
  const char* name;
  double level, width;
  bool automatic;
};
constexpr WindowPreset kCtWindows[] = {{"soft tissue", 40, 400, false}, {"CT brain", 40, 80, false},
                                       {"lung", -600, 1500, false},    {"bone", 400, 1800, false},
                                       {"auto (2nd-98th percentile)", 0, 0, true}};
constexpr WindowPreset kOtherWindows[] = {{"auto (2nd-98th percentile)", 0, 0, true}};

// Label colours when a mask has no descriptions (Okabe-Ito).
constexpr std::array<int, 3> kPalette[] = {{230, 159, 0}, {86, 180, 233}, {0, 158, 115}, {240, 228, 66},
                                           {0, 114, 178},  {213, 94, 0},   {204, 121, 167}};

std::string Base64(const std::string& bytes) {
  std::string text(4 * ((bytes.size() + 2) / 3) + 1, '\0');  // EVP_EncodeBlock adds a NUL
  const int length = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()),
                                     reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  text.resize(length);
  return text;
}

// VALUE as JSON that cannot end the <script> element it sits in.
std::string ScriptJson(const json& value) {
  std::string text;
  for (const char c : value.dump()) {
    if (c == '<') text += "\\u003c";
    else if (c == '>') text += "\\u003e";
    else if (c == '&') text += "\\u0026";
    else text += c;
  }
  return text;
}

// "SCT 5366008 Hippocampus" of a coded entry in a label description.
std::string CodeText(const json& code) {
  if (!code.is_object()) return "";
  return code.value("scheme", "") + " " + code.value("code", "") + " " + code.value("meaning", "");
}

// The first segmentation of SERIES with a mask file in the study folder.
const Analysis* MaskedAnalysis(const fs::path& folder, const SeriesResult& series) {
  for (const Analysis& analysis : series.analyses) {
    const auto nifti = analysis.outputs.find("nifti");
    if (analysis.outcome == Outcome::Ok && nifti != analysis.outputs.end() && IsFileInFolder(folder, nifti->second))
      return &analysis;
  }
  return nullptr;
}

// Each label's description (nifti_labels: colour, codes, laterality) by value, when the file is there.
json Descriptions(const fs::path& folder, const Analysis& analysis) {
  json by_value = json::object();
  const auto file = analysis.outputs.find("nifti_labels");
  if (file == analysis.outputs.end() || !IsFileInFolder(folder, file->second)) return by_value;
  const json descriptions = json::parse(ReadFile(folder / file->second), nullptr, false);
  if (!descriptions.is_object() || !descriptions.contains("labels")) return by_value;
  for (const auto& label : descriptions["labels"])
    if (label.is_object() && label.contains("value")) by_value[std::to_string(label["value"].get<int>())] = label;
  return by_value;
}

json LabelConfig(const LabelResult& label, const json& description, size_t index) {
  json colour = description.value("colour", json());
  if (!colour.is_array() || colour.size() != 3) colour = kPalette[index % std::size(kPalette)];
  return {{"value", label.value}, {"name", label.name}, {"colour", colour},
          {"centroid_lps_mm", label.json.value("centroid_mm", json())}};
}

std::string LegendRow(const LabelResult& label, const json& description) {
  const std::string value = std::to_string(label.value);
  std::string codes;
  for (const char* key : {"type", "modifier", "category"}) {
    const std::string code = CodeText(description.value(key, json()));
    if (!code.empty()) codes += (codes.empty() ? "" : "; ") + code;
  }
  const std::string structure = description.value("structure", "");
  const bool has_centroid = label.json.contains("centroid_mm");
  return "<tr><td><input type=\"checkbox\" class=\"viewer-label\" data-label=\"" + value +
         "\" checked aria-label=\"show " + Escape(label.name) + "\"> <span class=\"viewer-swatch\" data-label=\"" + value +
         "\"></span></td><td>" + value + "</td><td>" + Escape(label.name) + "</td><td>" + Escape(structure) +
         (codes.empty() ? "" : "<br><span class=\"summary\">" + Escape(codes) + "</span>") + "</td><td>" +
         Escape(description.value("laterality", "")) + "</td><td>" + VolumeText(label.volume_ml) + "</td><td>" +
         (has_centroid ? "<button type=\"button\" class=\"viewer-jump\" data-label=\"" + value + "\">jump to</button>" : "") +
         "</td></tr>";
}

std::string Tools(const WindowPreset* windows, size_t window_count, bool masked) {
  std::string html =
      "<div class=\"viewer-tools\"><label>view <select class=\"viewer-layout\"><option value=\"multiplanar\">axial, "
      "coronal, sagittal</option><option value=\"axial\">axial</option><option value=\"coronal\">coronal</option>"
      "<option value=\"sagittal\">sagittal</option></select></label> <label>scroll <select class=\"viewer-plane\">"
      "<option value=\"axial\">axial</option><option value=\"coronal\">coronal</option><option value=\"sagittal\">"
      "sagittal</option></select></label> <label>slice <input type=\"range\" class=\"viewer-slice\" min=\"0\" max=\"0\" "
      "value=\"0\"></label> <output class=\"viewer-slice-text\"></output> <span class=\"viewer-group\">zoom "
      "<button type=\"button\" class=\"viewer-zoom\" data-zoom=\"1.25\">+</button><button type=\"button\" "
      "class=\"viewer-zoom\" data-zoom=\"0.8\">&minus;</button><button type=\"button\" class=\"viewer-zoom\" "
      "data-zoom=\"0\">reset</button></span><br><span class=\"viewer-group\">window ";
  for (size_t i = 0; i < window_count; ++i) {
    const WindowPreset& w = windows[i];
    char label[96];
    if (w.automatic) std::snprintf(label, sizeof label, "%s", w.name);
    else std::snprintf(label, sizeof label, "%s %g/%g", w.name, w.level, w.width);
    html += "<button type=\"button\" class=\"viewer-window\" data-window=\"" + std::to_string(i) + "\">" + Escape(label) +
            "</button>";
  }
  html += " <output class=\"viewer-window-text\"></output></span>";
  if (masked)
    html += " <span class=\"viewer-group\"><label><input type=\"checkbox\" class=\"viewer-overlay\" checked> mask</label> "
            "<label>opacity <input type=\"range\" class=\"viewer-opacity\" min=\"0\" max=\"100\" value=\"50\"></label></span>";
  return html + "</div>";
}

}  // namespace

bool InstallViewer(const fs::path& outdir) {
  const fs::path bundle = MEDPIPE_NIIVUE_BUNDLE;
  std::error_code ec;
  if (bundle.empty() || !fs::is_regular_file(bundle, ec)) return false;
  fs::create_directories(outdir / "viewer", ec);
  if (ec) throw IoError((outdir / "viewer").string(), "cannot create folder: " + ec.message());
  WriteFileAtomically(outdir / "viewer" / "niivue.js", ReadFile(bundle));
  return true;
}

SeriesViewer WriteSeriesViewer(const fs::path& outdir, const Study& study, const SeriesResult& series, bool installed) {
  const fs::path folder = outdir / "studies" / study.folder;
  const std::string review = series.review_image.value_or("");
  if (!IsFileInFolder(folder, review)) return {};
  if (!installed)
    return {"<p class=\"flag-missing\">No slice viewer: this medpipe was built without NiiVue's bundle (scripts/setup.sh "
            "installs it with npm). The pictures below are the static overlays.</p>",
            ""};

  const bool ct = series.modality == "CT";
  const WindowPreset* windows = ct ? kCtWindows : kOtherWindows;
  const size_t window_count = ct ? std::size(kCtWindows) : std::size(kOtherWindows);
  const Analysis* masked = MaskedAnalysis(folder, series);
  json data = {{"image", Base64(ReadFile(folder / review))}};
  json config = {{"key", series.id}, {"modality", series.modality}, {"default_window", 0}, {"labels", json::array()}};
  for (size_t i = 0; i < window_count; ++i)
    config["windows"].push_back({{"name", windows[i].name}, {"level", windows[i].level}, {"width", windows[i].width},
                                 {"auto", windows[i].automatic}});
  std::string legend;
  if (masked) {
    data["mask"] = Base64(ReadFile(folder / masked->outputs.at("nifti")));
    const json descriptions = Descriptions(folder, *masked);
    for (size_t i = 0; i < masked->labels.size(); ++i) {
      const LabelResult& label = masked->labels[i];
      const json description = descriptions.value(std::to_string(label.value), json::object());
      config["labels"].push_back(LabelConfig(label, description, i));
      legend += LegendRow(label, description);
    }
    legend = "<table class=\"viewer-legend\"><thead><tr><th>show</th><th>value</th><th>label (" + Escape(masked->model) +
             ")</th><th>structure, codes</th><th>laterality</th><th>volume</th><th></th></tr></thead><tbody>" + legend +
             "</tbody></table>";
  }
  const std::string script = study.folder + "_" + series.id + ".js";
  WriteFileAtomically(outdir / "report" / script, "window.medpipeReview = window.medpipeReview || {};\nwindow.medpipeReview[" +
                                                      ScriptJson(series.id) + "] = " + ScriptJson(data) + ";\n");
  const std::string html =
      "<div class=\"viewer\"><script type=\"application/json\" class=\"viewer-config\">" + ScriptJson(config) +
      "</script><p class=\"viewer-status\">Loading the slice viewer&hellip;</p><p class=\"flag-problem viewer-oblique\" "
      "hidden></p>" + Tools(windows, window_count, masked != nullptr) +
      "<div class=\"viewer-frame\"><canvas class=\"viewer-canvas\" tabindex=\"0\"></canvas></div><p class=\"summary\">"
      "Wheel or arrow keys: next slice; click: move the crosshair (all planes follow); right-drag: window; "
      "middle-drag: pan; patient left on the image right.</p>" + legend + "</div>";
  return {html, script};
}

}  // namespace medpipe::report
