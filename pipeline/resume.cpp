#include "resume.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_text.h"
#include "medpipe/export/deidentify.h"

namespace medpipe::cli {
namespace fs = std::filesystem;

namespace {

// Every record of every manifest*.jsonl in OUTDIR, the last per study winning. A line torn by a
// crash mid-append does not parse and is ignored: its study simply is not committed.
std::map<std::string, nlohmann::json> ReadManifests(const fs::path& outdir) {
  std::map<std::string, nlohmann::json> records;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(outdir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("manifest", 0) != 0 || entry.path().extension() != ".jsonl") continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_object() && record.contains("study_id")) records[record["study_id"]] = record;
    }
  }
  return records;
}

// One line, appended in a single write and synced: concurrent writers (the worker and the run's
// own process) never interleave within a line.
void AppendLine(const fs::path& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(path.string(), std::string("cannot open: ") + std::strerror(errno));
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!written) throw IoError(path.string(), std::string("cannot append the study's record: ") + std::strerror(error));
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

}  // namespace

nlohmann::json SourceJson(const std::string& kind, const std::vector<std::string>& paths) {
  std::vector<std::string> lines;
  for (const auto& path : paths) lines.push_back(Sha256File(path) + " " + path);
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
  AppendLine(manifest_file_, JsonText(record, -1) + "\n");
  FailPoint("study_recorded");
}

}  // namespace medpipe::cli
