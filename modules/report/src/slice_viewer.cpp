#include "slice_viewer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <optional>

#include "html_page.h"
#include "medpipe/core/files.h"
#include "medpipe/report/review_copy.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace medpipe::report {
namespace {

// A window preset: LEVEL and WIDTH in the image's unit (HU for CT), or (AUTOMATIC) the LOW..HIGH fraction
// of the image's sorted values.
struct WindowPreset {
  const char* name;
  double level, width;
  bool automatic;
  double low = 0, high = 1;
};
constexpr WindowPreset kCtWindows[] = {{"soft tissue", 40, 400, false},       {"CT brain", 40, 80, false},
                                       {"lung", -600, 1500, false},          {"bone", 400, 1800, false},
                                       {"auto (2nd-98th percentile)", 0, 0, true, 0.02, 0.98}};
constexpr WindowPreset kOtherWindows[] = {{"auto (2nd-98th percentile)", 0, 0, true, 0.02, 0.98},
                                          {"full range", 0, 0, true, 0, 1}};

// Label colours when a mask has no descriptions, or when an earlier layer took its colour (Okabe-Ito,
// then more that stay apart from them).
using Rgb = std::array<int, 3>;
constexpr Rgb kPalette[] = {{230, 159, 0},  {86, 180, 233}, {0, 158, 115},  {240, 228, 66},  {0, 114, 178},
                            {213, 94, 0},   {204, 121, 167}, {255, 255, 255}, {170, 255, 0},  {255, 0, 255},
                            {0, 255, 255},  {160, 82, 45}};

// The heat map's colours: the JET scale the static overlay (OpenCV's COLORMAP_JET) uses, as stops at
// 0..1 of the map's value; the viewer's colour map and the legend's scale are both built from these.
struct ColourStop {
  double at;
  Rgb colour;
};
constexpr ColourStop kJet[] = {{0, {0, 0, 128}},       {0.125, {0, 0, 255}}, {0.375, {0, 255, 255}},
                               {0.625, {255, 255, 0}}, {0.875, {255, 0, 0}}, {1, {128, 0, 0}}};

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

std::string Number(const char* format, double value) {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// "SCT 5366008 Hippocampus" of a coded entry in a label description.
std::string CodeText(const json& code) {
  if (!code.is_object()) return "";
  return code.value("scheme", "") + " " + code.value("code", "") + " " + code.value("meaning", "");
}

// An analysis' output file KIND when it names a file in FOLDER.
const std::string* OutputIn(const fs::path& folder, const Analysis& analysis, const char* kind) {
  const auto file = analysis.outputs.find(kind);
  if (analysis.outcome != Outcome::Ok || file == analysis.outputs.end() || !IsFileInFolder(folder, file->second))
    return nullptr;
  return &file->second;
}

// Each label's description (nifti_labels: colour, codes, laterality) by value, when the file is there.
json Descriptions(const fs::path& folder, const Analysis& analysis) {
  json by_value = json::object();
  const std::string* file = OutputIn(folder, analysis, "nifti_labels");
  if (!file) return by_value;
  const json descriptions = json::parse(ReadFile(folder / *file), nullptr, false);
  if (!descriptions.is_object() || !descriptions.contains("labels")) return by_value;
  for (const auto& label : descriptions["labels"])
    if (label.is_object() && label.contains("value")) by_value[std::to_string(label["value"].get<int>())] = label;
  return by_value;
}

// The colour label INDEX is drawn in: its description's, unless an earlier layer drew in it (two models'
// labels must stay apart on the image), then the first palette colour no layer has used.
Rgb LabelColour(const json& description, size_t index, std::vector<Rgb>& used) {
  Rgb colour = kPalette[index % std::size(kPalette)];
  const json described = description.value("colour", json());
  if (described.is_array() && described.size() == 3) colour = described.get<Rgb>();
  if (std::find(used.begin(), used.end(), colour) != used.end()) {
    const auto free = std::find_if(std::begin(kPalette), std::end(kPalette),
                                   [&](const Rgb& c) { return std::find(used.begin(), used.end(), c) == used.end(); });
    if (free != std::end(kPalette)) colour = *free;
  }
  used.push_back(colour);
  return colour;
}

std::string LayerAttributes(size_t layer, int value) {
  return "data-layer=\"" + std::to_string(layer) + "\" data-label=\"" + std::to_string(value) + "\"";
}

std::string LegendRow(size_t layer, const LabelResult& label, const json& description) {
  const std::string attributes = LayerAttributes(layer, label.value);
  std::string codes;
  for (const char* key : {"type", "modifier", "category"}) {
    const std::string code = CodeText(description.value(key, json()));
    if (!code.empty()) codes += (codes.empty() ? "" : "; ") + code;
  }
  const std::string structure = description.value("structure", "");
  const bool has_centroid = label.json.contains("centroid_mm");
  return "<tr><td><input type=\"checkbox\" class=\"viewer-label\" " + attributes + " checked aria-label=\"show " +
         Escape(label.name) + "\"> <span class=\"viewer-swatch\" " + attributes + "></span></td><td>" +
         std::to_string(label.value) + "</td><td>" + Escape(label.name) + "</td><td>" + Escape(structure) +
         (codes.empty() ? "" : "<br><span class=\"summary\">" + Escape(codes) + "</span>") + "</td><td>" +
         Escape(description.value("laterality", "")) + "</td><td>" + VolumeText(label.volume_ml) + "</td><td>" +
         (has_centroid ? "<button type=\"button\" class=\"viewer-jump\" " + attributes + ">jump to</button>" : "") +
         "</td></tr>";
}

std::string ModelName(const Analysis& analysis) {
  return analysis.model + (analysis.version.empty() ? "" : " " + analysis.version);
}

// A segmentation drawn over the image: its own legend, toggle and opacity.
struct MaskLayer {
  json config;       // model, labels (value, name, colour, centroid)
  std::string mask;  // the label NIfTI, base64
  std::string legend;
};

MaskLayer MaskLayerOf(const fs::path& folder, const Analysis& analysis, size_t layer, std::vector<Rgb>& used) {
  const json descriptions = Descriptions(folder, analysis);
  MaskLayer result{{{"model", ModelName(analysis)}, {"labels", json::array()}},
                   Base64(ReadFile(folder / *OutputIn(folder, analysis, "nifti"))), ""};
  std::string rows;
  for (size_t i = 0; i < analysis.labels.size(); ++i) {
    const LabelResult& label = analysis.labels[i];
    const json description = descriptions.value(std::to_string(label.value), json::object());
    result.config["labels"].push_back({{"value", label.value},
                                       {"name", label.name},
                                       {"colour", LabelColour(description, i, used)},
                                       {"centroid_lps_mm", label.json.value("centroid_mm", json())}});
    rows += LegendRow(layer, label, description);
  }
  const std::string index = std::to_string(layer);
  result.legend = "<table class=\"viewer-legend\" data-layer=\"" + index + "\"><caption><label><input type=\"checkbox\" "
                  "class=\"viewer-layer\" data-layer=\"" + index + "\" checked> " + Escape(ModelName(analysis)) +
                  "</label> <label>opacity <input type=\"range\" class=\"viewer-opacity\" data-layer=\"" + index +
                  "\" min=\"0\" max=\"100\" value=\"50\"></label></caption><thead><tr><th>show</th><th>value</th><th>label"
                  "</th><th>structure, codes</th><th>laterality</th><th>volume</th><th></th></tr></thead><tbody>" + rows +
                  "</tbody></table>";
  return result;
}

// The classifier's heat map over the image: the map, the colour scale with its numbers, and what the
// model decided.
struct HeatLayer {
  json config;
  std::string map;  // the heat map's review copy, base64
  std::string html;
};

// The colour scale of the heat map, 0 to 1, as an inline SVG (no style attributes: the page's CSP).
std::string ColourScale(const std::string& key) {
  constexpr int kWidth = 240, kHeight = 14, kLeft = 8;
  const std::string id = "heat-scale-" + key;
  std::string svg = "<svg class=\"viewer-scale\" width=\"" + std::to_string(kWidth + 2 * kLeft) + "\" height=\"34\" "
                    "role=\"img\" aria-label=\"heat map colour scale from 0 to 1\"><defs><linearGradient id=\"" + id + "\">";
  for (const ColourStop& stop : kJet)
    svg += "<stop offset=\"" + Number("%g", stop.at) + "\" stop-color=\"rgb(" + std::to_string(stop.colour[0]) + "," +
           std::to_string(stop.colour[1]) + "," + std::to_string(stop.colour[2]) + ")\"/>";
  svg += "</linearGradient></defs><rect x=\"" + std::to_string(kLeft) + "\" y=\"0\" width=\"" + std::to_string(kWidth) +
         "\" height=\"" + std::to_string(kHeight) + "\" fill=\"url(#" + id + ")\"/>";
  for (const double tick : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const std::string x = Number("%.1f", kLeft + tick * kWidth);
    svg += "<line x1=\"" + x + "\" x2=\"" + x + "\" y1=\"" + std::to_string(kHeight) + "\" y2=\"" +
           std::to_string(kHeight + 4) + "\" stroke=\"#1d2733\"/><text class=\"viewer-scale-tick\" x=\"" + x +
           "\" y=\"31\" text-anchor=\"middle\">" + Number("%g", tick) + "</text>";
  }
  return svg + "</svg>";
}

// The decision as a table row: model, finding and verdict, probability (as DecisionText rounds it), threshold.
std::string DecisionHtml(const Analysis& analysis) {
  const Decision& decision = *analysis.decision;
  return "<table class=\"viewer-finding\"><thead><tr><th>model</th><th>finding</th><th>probability</th><th>threshold</th>"
         "</tr></thead><tbody><tr><td>" + Escape(ModelName(analysis)) + "</td><td class=\"viewer-finding-class\">" +
         Escape(decision.class_name) + " (" + VerdictName(decision.verdict) + ")</td><td class=\"viewer-finding-probability\">" +
         Number("%.2f", decision.probability) + "</td><td class=\"viewer-finding-threshold\">" +
         (decision.threshold ? Number("%.3g", *decision.threshold) : "none (most probable class)") + "</td></tr></tbody></table>";
}

// The first classification of SERIES with a heat map's review copy in FOLDER, as a layer.
std::optional<HeatLayer> HeatLayerOf(const fs::path& folder, const SeriesResult& series) {
  for (const Analysis& analysis : series.analyses) {
    const std::string* map = OutputIn(folder, analysis, "heatmap_review");
    if (!map || !analysis.decision) continue;
    const json explanation = analysis.json.value("explanation", json::object());
    json colours = json::array();
    for (const ColourStop& stop : kJet) colours.push_back({{"at", stop.at}, {"colour", stop.colour}});
    HeatLayer layer{{{"model", ModelName(analysis)}, {"scale", kHeatmapReviewScale}, {"colours", colours}}, Base64(ReadFile(folder / *map)), ""};
    layer.html = "<div class=\"viewer-heat\"><span class=\"viewer-group\"><label><input type=\"checkbox\" "
                 "class=\"viewer-heat-toggle\" checked> heat map</label> <label>opacity <input type=\"range\" "
                 "class=\"viewer-heat-opacity\" min=\"0\" max=\"100\" value=\"60\"></label></span> " +
                 ColourScale(series.id) + " <span class=\"summary\">" +
                 Escape(explanation.value("method", "heat map") + " evidence for " +
                        explanation.value("class", analysis.decision->class_name)) +
                 ", 0 (none) to 1 (strongest in this image); fading to clear below 0.25</span></div>" + DecisionHtml(analysis);
    return layer;
  }
  return std::nullopt;
}

std::string Tools(const WindowPreset* windows, size_t window_count, bool flat) {
  std::string html = "<div class=\"viewer-tools\">";
  if (!flat)
    html += "<label>view <select class=\"viewer-layout\"><option value=\"multiplanar\">axial, "
            "coronal, sagittal</option><option value=\"axial\">axial</option><option value=\"coronal\">coronal</option>"
            "<option value=\"sagittal\">sagittal</option></select></label> <label>scroll <select class=\"viewer-plane\">"
            "<option value=\"axial\">axial</option><option value=\"coronal\">coronal</option><option value=\"sagittal\">"
            "sagittal</option></select></label> <label>slice <input type=\"range\" class=\"viewer-slice\" min=\"0\" "
            "max=\"0\" value=\"0\"></label> <output class=\"viewer-slice-text\"></output> ";
  html += "<span class=\"viewer-group\">zoom <button type=\"button\" class=\"viewer-zoom\" data-zoom=\"1.25\">+</button>"
          "<button type=\"button\" class=\"viewer-zoom\" data-zoom=\"0.8\">&minus;</button><button type=\"button\" "
          "class=\"viewer-zoom\" data-zoom=\"0\">reset</button></span><br><span class=\"viewer-group\">window ";
  for (size_t i = 0; i < window_count; ++i) {
    const WindowPreset& w = windows[i];
    const std::string label = w.automatic ? w.name : std::string(w.name) + " " + Number("%g", w.level) + "/" + Number("%g", w.width);
    html += "<button type=\"button\" class=\"viewer-window\" data-window=\"" + std::to_string(i) + "\">" + Escape(label) +
            "</button>";
  }
  return html + " <output class=\"viewer-window-text\"></output></span></div>";
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
  const bool flat = series.json.value("kind", "") == "projection";
  json data = {{"image", Base64(ReadFile(folder / review))}, {"masks", json::array()}};
  json config = {{"key", series.id}, {"modality", series.modality}, {"flat", flat}, {"default_window", 0},
                 {"layers", json::array()}};
  for (size_t i = 0; i < window_count; ++i)
    config["windows"].push_back({{"name", windows[i].name}, {"level", windows[i].level}, {"width", windows[i].width},
                                 {"auto", windows[i].automatic}, {"low", windows[i].low}, {"high", windows[i].high}});
  std::string legends;
  std::vector<Rgb> used;
  for (const Analysis& analysis : series.analyses) {
    if (!OutputIn(folder, analysis, "nifti")) continue;
    MaskLayer layer = MaskLayerOf(folder, analysis, config["layers"].size(), used);
    config["layers"].push_back(std::move(layer.config));
    data["masks"].push_back(std::move(layer.mask));
    legends += layer.legend;
  }
  const std::optional<HeatLayer> heat = HeatLayerOf(folder, series);
  if (heat) {
    config["heat"] = heat->config;
    data["heat"] = heat->map;
  }
  const std::string script = study.folder + "_" + series.id + ".js";
  WriteFileAtomically(outdir / "report" / script, "window.medpipeReview = window.medpipeReview || {};\nwindow.medpipeReview[" +
                                                      ScriptJson(series.id) + "] = " + ScriptJson(data) + ";\n");
  const std::string help = flat ? "Drag (left or right button): window; middle-drag: pan; radiological convention "
                                  "(patient right on the image left)."
                                : "Wheel or arrow keys: next slice; click: move the crosshair (all planes follow); "
                                  "right-drag: window; middle-drag: pan; patient left on the image right.";
  const std::string html =
      "<div class=\"viewer\"><script type=\"application/json\" class=\"viewer-config\">" + ScriptJson(config) +
      "</script><p class=\"viewer-status\">Loading the viewer&hellip;</p><p class=\"flag-problem viewer-oblique\" "
      "hidden></p>" + Tools(windows, window_count, flat) + (heat ? heat->html : "") +
      "<div class=\"viewer-frame\"><canvas class=\"viewer-canvas\" tabindex=\"0\"></canvas></div><p class=\"summary\">" +
      help + "</p>" + legends + "</div>";
  return {html, script};
}

}  // namespace medpipe::report
