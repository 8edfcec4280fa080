#include "medpipe/core/deidentification.h"

#include <map>
#include <set>

#include "medpipe/core/digest.h"

namespace medpipe {
namespace {

// Calls VISIT(key, value) for every member of every object in JSON.
template <typename Visit>
void ForEachMember(nlohmann::json& json, const Visit& visit) {
  if (json.is_object()) {
    for (auto& [key, value] : json.items()) {
      visit(key, value);
      ForEachMember(value, visit);
    }
  } else if (json.is_array()) {
    for (auto& value : json) ForEachMember(value, visit);
  }
}

// Removes the members named KEYS from every object in JSON.
void EraseMembers(nlohmann::json& json, const std::set<std::string>& keys) {
  if (json.is_object())
    for (const auto& key : keys) json.erase(key);
  if (json.is_structured())
    for (auto& value : json) EraseMembers(value, keys);
}

}  // namespace

std::string DeidentifiedUid(const std::string& uid) {
  const std::string hex = Sha256Hex(uid).substr(0, 32);
  unsigned __int128 value = 0;
  for (const char digit : hex) value = value << 4 | static_cast<unsigned>(digit <= '9' ? digit - '0' : digit - 'a' + 10);
  std::string decimal;
  do {
    decimal.insert(decimal.begin(), static_cast<char>('0' + static_cast<int>(value % 10)));
    value /= 10;
  } while (value != 0);
  return "2.25." + decimal;
}

// Through the recorded entries, so that every message and every untyped member is scrubbed alike.
void Deidentify(StudyResult& result) {
  nlohmann::json recorded = result;
  std::map<std::string, std::string> replacements;  // original text -> replacement
  ForEachMember(recorded, [&](const std::string& key, nlohmann::json& value) {
    if ((key == "study_instance_uid" || key == "series_instance_uid") && value.is_string())
      replacements[value] = DeidentifiedUid(value);
    if (key == "paths")
      for (const auto& path : value) replacements[path] = "<input file>";
    if (key == "path" && value.is_string()) replacements[value] = "<input file>";
  });
  EraseMembers(recorded, {"paths", "description", "split_key", "study_date", "accession_number", "study_description"});
  const auto scrub = [&](std::string text) {
    for (const auto& [original, replacement] : replacements)
      for (size_t at; !original.empty() && (at = text.find(original)) != std::string::npos;)
        text.replace(at, original.size(), replacement);
    return text;
  };
  ForEachMember(recorded, [&](const std::string&, nlohmann::json& value) {
    if (value.is_string()) value = scrub(value);
    if (value.is_array())
      for (auto& item : value)
        if (item.is_string()) item = scrub(item);
  });
  recorded["deidentified"] = "DICOM PS3.15 E.1 Basic Profile";
  result = recorded.get<StudyResult>();
}

}  // namespace medpipe
