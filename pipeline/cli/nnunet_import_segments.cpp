#include "cli/nnunet_import_segments.h"

#include <algorithm>
#include <map>
#include <string>

#include "medpipe/core/error.h"
#include "medpipe/core/files.h"

namespace medpipe::cli {
namespace {

using nlohmann::json;

// SNOMED CT's side modifiers, which the manifest carries as laterality (the SEG writer adds the code back).
const std::map<std::string, std::string> kSides{{"7771000", "left"}, {"24028007", "right"}};

class AttributeReader {
 public:
  explicit AttributeReader(std::filesystem::path file) : file_(std::move(file)) {}

  [[noreturn]] void Fail(const std::string& what) const {
    throw ConfigError("--segment-attributes", file_.string() + ": " + what);
  }

  // A dcmqi code sequence item as the manifest's {code, scheme, meaning}.
  json Code(const json& item, const std::string& key, const std::string& at) const {
    const json& code = item.at(key);
    for (const char* field : {"CodeValue", "CodingSchemeDesignator", "CodeMeaning"})
      if (!code.is_object() || !code.contains(field) || !code.at(field).is_string() || code.at(field).get<std::string>().empty())
        Fail(at + "." + key + " has no " + field);
    return {{"code", code.at("CodeValue")}, {"scheme", code.at("CodingSchemeDesignator")}, {"meaning", code.at("CodeMeaning")}};
  }

  // {labelID: item} over every segmentAttributes list (dcmqi nests one list per input label map).
  std::map<int, json> ItemsByLabel(const json& root) const {
    const json& lists = root.is_object() ? root.value("segmentAttributes", json()) : json();
    if (!lists.is_array() || lists.empty()) Fail("has no segmentAttributes list (dcmqi's metainfo JSON)");
    std::map<int, json> items;
    for (size_t i = 0; i < lists.size(); ++i) {
      const json list = lists[i].is_array() ? lists[i] : json::array({lists[i]});
      for (size_t j = 0; j < list.size(); ++j) {
        const std::string at = "segmentAttributes[" + std::to_string(i) + "][" + std::to_string(j) + "]";
        const json& item = list[j];
        if (!item.is_object() || !item.contains("labelID") || !item.at("labelID").is_number_integer())
          Fail(at + " has no integer labelID");
        if (!items.emplace(item.at("labelID").get<int>(), item).second)
          Fail(at + " repeats labelID " + item.at("labelID").dump());
      }
    }
    return items;
  }

 private:
  std::filesystem::path file_;
};

}  // namespace

json LabelsWithSegmentAttributes(const json& labels, const std::filesystem::path& file) {
  const AttributeReader reader(file);
  json root;
  try {
    root = json::parse(ReadFile(file));
  } catch (const json::exception& error) {
    reader.Fail(std::string("is not valid JSON: ") + error.what());
  }
  std::map<int, json> items = reader.ItemsByLabel(root);
  std::string missing;
  json coded = json::array();
  for (json label : labels) {
    const int value = label.at("value").get<int>();
    const auto found = items.find(value);
    if (found == items.end()) {
      missing += (missing.empty() ? "" : ", ") + std::to_string(value) + " (" + label.at("name").get<std::string>() + ")";
      continue;
    }
    const json& item = found->second;
    const std::string at = "labelID " + std::to_string(value);
    for (const char* key : {"SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence"})
      if (!item.contains(key)) reader.Fail(at + " has no " + key);
    label["category"] = reader.Code(item, "SegmentedPropertyCategoryCodeSequence", at);
    label["type"] = reader.Code(item, "SegmentedPropertyTypeCodeSequence", at);
    // No side modifier: the type code is the whole structure (a side, if any, is in its meaning).
    label["laterality"] = "unpaired";
    if (item.contains("SegmentedPropertyTypeModifierCodeSequence")) {
      const json modifier = reader.Code(item, "SegmentedPropertyTypeModifierCodeSequence", at);
      const auto side = kSides.find(modifier.at("code").get<std::string>());
      if (modifier.at("scheme") == "SCT" && side != kSides.end())
        label["laterality"] = side->second;
      else
        label["modifier"] = modifier;
    }
    if (item.contains("recommendedDisplayRGBValue")) {
      const json& rgb = item.at("recommendedDisplayRGBValue");
      const bool valid = rgb.is_array() && rgb.size() == 3 &&
                         std::all_of(rgb.begin(), rgb.end(), [](const json& c) { return c.is_number_integer() && c >= 0 && c <= 255; });
      if (!valid) reader.Fail(at + " recommendedDisplayRGBValue is " + rgb.dump() + "; expected [r, g, b] of 0-255");
      label["colour"] = rgb;
    }
    items.erase(found);
    coded.push_back(label);
  }
  if (!missing.empty()) reader.Fail("does not cover label(s) " + missing + " of the model");
  if (!items.empty()) {
    std::string extra;
    for (const auto& [id, item] : items) extra += (extra.empty() ? "" : ", ") + std::to_string(id);
    reader.Fail("has labelID(s) " + extra + " that the model does not predict");
  }
  return coded;
}

}  // namespace medpipe::cli
