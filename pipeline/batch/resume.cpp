#include "batch/resume.h"

#include <algorithm>
#include <set>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_lines.h"
#include "medpipe/core/json_text.h"
#include "medpipe/core/log.h"

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

ResultStore::ResultStore(const fs::path& outdir, const std::string& manifest_name)
    : studies_dir_(outdir / "studies"), manifest_file_(outdir / manifest_name), committed_(ReadManifests(outdir)) {}

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

void ResultStore::Publish(StagedFolder& folder, const StudyResult& result) const {
  const nlohmann::json recorded = result;
  WriteFileAtomically(folder.Path() / "result.json", JsonText(recorded) + "\n");
  FailPoint("study_written");
  folder.Commit();
  FailPoint("study_in_place");
  const nlohmann::json record = {{"study_id", result.study_id},
                                 {"status", OutcomeName(result.ok ? Outcome::Ok : Outcome::Failed)},
                                 {"files_sha256", recorded.at("source").at("files_sha256")},
                                 {"settings_sha256", recorded.at("settings_sha256")}};
  AppendJsonLine(manifest_file_, record);
  FailPoint("study_recorded");
}

nlohmann::json SourceJson(const WorkItem& item) {
  nlohmann::json source = SourceJson(item.study ? "dicom" : "nifti", item.files);
  if (!item.study) source["path"] = item.nifti.string();
  return source;
}

StudyResult NewStudyResult(const WorkItem& item, nlohmann::json source, const std::string& settings_sha256,
                           nlohmann::json models) {
  StudyResult result;
  result.study_id = item.id;
  if (item.study) result.study_instance_uid = item.uid;
  result.json = {{"schema_version", 2},
                 {"medpipe_version", MEDPIPE_VERSION},
                 {"source", std::move(source)},
                 {"settings_sha256", settings_sha256},
                 {"models", std::move(models)}};
  return result;
}

StudyResult FailedStudyResult(const WorkItem& item, const std::string& settings_sha256, const nlohmann::json& models,
                              const Failure& failure) {
  StudyResult result = NewStudyResult(item, SourceJson(item), settings_sha256, models);
  Fail(result, failure);
  result.json["timings_ms"]["total"] = 0;
  return result;
}

void Fail(StudyResult& result, const Failure& failure) {
  result.ok = false;
  result.error = failure.message;
  result.failure = failure;
}

void PublishFailedResult(const ResultStore& store, const WorkItem& item, const StudyResult& result, StagedFolder* folder) {
  try {
    std::unique_ptr<StagedFolder> staged;
    if (!folder) folder = (staged = store.Stage(item.id)).get();
    store.Publish(*folder, result);
  } catch (const std::exception& error) {
    Log(LogLevel::Error, "study " + item.uid + " (" + item.id + ") not written: " + error.what());
  }
}

}  // namespace medpipe::cli
