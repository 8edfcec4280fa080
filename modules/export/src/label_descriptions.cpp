#include "medpipe/export/label_descriptions.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "medpipe/core/files.h"

namespace medpipe::exporter {
namespace {

nlohmann::json CodeJson(const model::Code& code) {
  return {{"code", code.value}, {"scheme", code.scheme}, {"meaning", code.meaning}};
}

std::string SidecarJson(const std::vector<model::Label>& labels) {
  nlohmann::json entries = nlohmann::json::array();
  for (const model::Label& label : labels) {
    nlohmann::json entry = {{"value", label.value},
                            {"name", label.name},
                            {"colour", label.colour},
                            {"laterality", model::LateralityName(label.laterality)}};
    if (!label.category.value.empty()) entry["category"] = CodeJson(label.category);
    if (!label.type.value.empty()) entry["type"] = CodeJson(label.type);
    if (label.modifier) entry["modifier"] = CodeJson(*label.modifier);
    const std::string structure = model::StructureText(label);
    if (!structure.empty()) entry["structure"] = structure;
    entries.push_back(entry);
  }
  return nlohmann::json{{"labels", entries}}.dump(2) + "\n";
}

// ITK-SNAP's format: index, RGB, opacity, visibility, mesh visibility, quoted description; label 0 is
// the "Clear Label". A quote in a name would end the description early, so it becomes an apostrophe.
std::string ItkSnapLabels(const std::vector<model::Label>& labels) {
  std::string text =
      "################################################\n"
      "# ITK-SnAP Label Description File\n"
      "# IDX   -R-  -G-  -B-  -A--  VIS MSH  LABEL\n"
      "################################################\n"
      "    0     0    0    0        0  0  0    \"Clear Label\"\n";
  for (const model::Label& label : labels) {
    std::string name = label.name;
    for (char& c : name) c = c == '"' ? '\'' : c;
    char line[512];
    std::snprintf(line, sizeof line, "%5d %5d %4d %4d        1  1  1    \"%s\"\n", label.value, label.colour[0],
                  label.colour[1], label.colour[2], name.c_str());
    text += line;
  }
  return text;
}

}  // namespace

LabelDescriptionFiles LabelDescriptionPaths(const std::filesystem::path& mask_path) {
  std::string stem = mask_path.filename().string();
  for (const char* extension : {".nii.gz", ".nii"}) {
    const std::string suffix = extension;
    if (stem.size() > suffix.size() && stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) == 0) {
      stem.resize(stem.size() - suffix.size());
      break;
    }
  }
  const auto folder = mask_path.parent_path();
  return {folder / (stem + ".json"), folder / (stem + "_labels.txt")};
}

LabelDescriptionFiles WriteLabelDescriptions(const std::vector<model::Label>& labels,
                                             const std::filesystem::path& mask_path) {
  const LabelDescriptionFiles files = LabelDescriptionPaths(mask_path);
  WriteFileAtomically(files.json, SidecarJson(labels));
  WriteFileAtomically(files.itksnap, ItkSnapLabels(labels));
  return files;
}

}  // namespace medpipe::exporter
