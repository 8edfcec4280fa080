#include "resume.h"

#include <algorithm>
#include <set>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_lines.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"
#include "medpipe/export/deidentify.h"

namespace medpipe::cli {
namespace fs = std::filesystem;

namespace {

// The last record of each study in OUTDIR's manifest*.jsonl files.
std::map<std::string, nlohmann::json> ReadManifests(const fs::path& outdir) {
  std::map<std::string, nlohmann::json> records;
  for (auto& record : ReadJsonLines(outdir, "manifest"))
    if (record.contains("study_id")) {
      const std::string id = record["study_id"];
      records[id] = std::move(record);
    }
  return records;
}

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

// RESULT as --deidentify publishes it: UIDs replaced as in the DICOM outputs, input paths and
// descriptions gone, and both scrubbed from every message (errors name the file they are about).
nlohmann::json Deidentified(nlohmann::json result) {
  std::map<std::string, std::string> replacements;  // original text -> replacement
  ForEachMember(result, [&](const std::string& key, nlohmann::json& value) {
    if ((key == "study_instance_uid" || key == "series_instance_uid") && value.is_string())
      replacements[value] = exporter::DeidentifiedUid(value);
    if (key == "paths")
      for (const auto& path : value) replacements[path] = "<input file>";
    if (key == "path" && value.is_string()) replacements[value] = "<input file>";
  });
  EraseMembers(result, {"paths", "description", "split_key"});
  const auto scrub = [&](std::string text) {
    for (const auto& [original, replacement] : replacements)
      for (size_t at; !original.empty() && (at = text.find(original)) != std::string::npos;)
        text.replace(at, original.size(), replacement);
    return text;
  };
  ForEachMember(result, [&](const std::string&, nlohmann::json& value) {
    if (value.is_string()) value = scrub(value);
    if (value.is_array())
      for (auto& item : value)
        if (item.is_string()) item = scrub(item);
  });
  result["deidentified"] = "DICOM PS3.15 E.1 Basic Profile";
  return result;
}

// A file gone or unreadable since the index still gets a line, one that no readable file gives: the
// study is then decoded, and fails that series with the reason, instead of failing before it starts.
std::string DigestLine(const std::string& path) {
  try {
    return Sha256File(path) + " " + path;
  } catch (const IoError&) {
    return "unreadable " + path;
  }
}

}  // namespace

nlohmann::json SourceJson(const std::string& kind, const std::vector<std::string>& paths) {
  std::vector<std::string> lines;
  for (const auto& path : paths) lines.push_back(DigestLine(path));
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return {{"kind", kind}, {"files", paths.size()}, {"files_sha256", Sha256Hex(text)}};
}

ResultStore::ResultStore(const fs::path& outdir, const std::string& manifest_name, bool deidentify)
    : studies_dir_(outdir / "studies"),
      manifest_file_(outdir / manifest_name),
      deidentify_(deidentify),
      committed_(ReadManifests(outdir)) {}

std::unique_ptr<StagedFolder> ResultStore::Stage(const std::string& study_id) const {
  return std::make_unique<StagedFolder>(studies_dir_ / study_id);
}

bool ResultStore::IsComplete(const std::string& study_id, const nlohmann::json& source,
                             const std::string& settings_sha256) const {
  const auto record = committed_.find(study_id);
  if (record == committed_.end()) return false;
  std::error_code ec;
  return record->second.value("status", "") == "ok" && record->second.value("settings_sha256", "") == settings_sha256 &&
         record->second.value("files_sha256", "") == source.at("files_sha256") &&
         fs::is_regular_file(studies_dir_ / study_id / "result.json", ec);
}

void ResultStore::Publish(StagedFolder& folder, const nlohmann::json& result) const {
  if (deidentify_) {
    for (const auto& entry : fs::directory_iterator(folder.Path()))
      if (entry.path().extension() == ".dcm") exporter::DeidentifyDicomFile(entry.path());
  }
  WriteFileAtomically(folder.Path() / "result.json", JsonText(deidentify_ ? Deidentified(result) : result) + "\n");
  FailPoint("study_written");
  folder.Commit();
  FailPoint("study_in_place");
  const nlohmann::json record = {{"study_id", result.at("study_id")},
                                 {"status", result.at("status")},
                                 {"files_sha256", result.at("source").at("files_sha256")},
                                 {"settings_sha256", result.at("settings_sha256")}};
  AppendJsonLine(manifest_file_, record);
  FailPoint("study_recorded");
}

nlohmann::json SourceJson(const WorkItem& item) {
  nlohmann::json source = SourceJson(item.study ? "dicom" : "nifti", item.files);
  if (!item.study) source["path"] = item.nifti.string();
  return source;
}

// The parts of result.json every study has; SERIES entries and FAILURES decide the status.
nlohmann::json ResultJson(const WorkItem& item, nlohmann::json source, const std::string& settings_sha256,
                          nlohmann::json models, nlohmann::json series, size_t failures, double total_ms) {
  nlohmann::json result = {{"schema_version", 2},
                           {"medpipe_version", MEDPIPE_VERSION},
                           {"study_id", item.id},
                           {"status", failures ? "failed" : "ok"},
                           {"source", std::move(source)},
                           {"settings_sha256", settings_sha256},
                           {"models", std::move(models)},
                           {"series", std::move(series)},
                           {"timings_ms", {{"total", total_ms}}}};
  if (item.study) result["study_instance_uid"] = item.uid;
  return result;
}

nlohmann::json FailedResultJson(const WorkItem& item, const std::string& settings_sha256, const nlohmann::json& models,
                                const std::string& error) {
  nlohmann::json result = ResultJson(item, SourceJson(item), settings_sha256, models, nlohmann::json::array(), 1, 0);
  result["error"] = error;
  return result;
}

void PublishFailedResult(const ResultStore& store, const WorkItem& item, const nlohmann::json& result, StagedFolder* folder) {
  try {
    std::unique_ptr<StagedFolder> staged;
    if (!folder) folder = (staged = store.Stage(item.id)).get();
    store.Publish(*folder, result);
  } catch (const std::exception& error) {
    Log(LogLevel::Error, "study " + item.uid + " (" + item.id + ") not written: " + error.what());
  }
}

}  // namespace medpipe::cli
