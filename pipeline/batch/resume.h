#pragma once
// Publication and resume. A study's results appear as a whole (staged folder, fsync, rename, fsync of
// the parent) and are then recorded in the run's manifest, OUT/manifest.jsonl (one per shard). That
// record is the commit point: a rerun skips a study only when its last record says "ok" for the same
// input files (by SHA-256) and the same settings (models' sha256 and the options that change
// outputs), and its folder is there; a folder put in place without its record is redone.
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/work_list.h"
#include "medpipe/core/files.h"
#include "medpipe/core/study_result.h"

namespace medpipe::cli {

// result.json's "source": KIND, the file count, and SHA-256 over the sorted "<sha256> <path>" lines
// ("unreadable <path>" for a file that cannot be read now).
nlohmann::json SourceJson(const std::string& kind, const std::vector<std::string>& paths);
// ITEM's: a DICOM study's files, or a NIfTI file with its path.
nlohmann::json SourceJson(const WorkItem& item);

class ResultStore {
 public:
  // Study folders in OUTDIR/studies; this process appends to OUTDIR/MANIFEST_NAME and trusts the
  // records of every OUTDIR/manifest*.jsonl as they were when constructed.
  ResultStore(const std::filesystem::path& outdir, const std::string& manifest_name);

  const std::filesystem::path& StudiesDir() const { return studies_dir_; }
  // A staging folder for the study STUDY_ID (see StagedFolder).
  std::unique_ptr<StagedFolder> Stage(const std::string& study_id) const;
  // Whether STUDY_ID has a committed, successful result for SOURCE (as SourceJson gives it) under SETTINGS_SHA256.
  bool IsComplete(const std::string& study_id, const nlohmann::json& source, const std::string& settings_sha256) const;
  // Writes RESULT as FOLDER's result.json, puts the folder in place and appends the study's record.
  void Publish(StagedFolder& folder, const StudyResult& result) const;

 private:
  std::filesystem::path studies_dir_;
  std::filesystem::path manifest_file_;
  std::map<std::string, nlohmann::json> committed_;  // study id -> its last record
};

// The parts of result.json every study has, before its series and timings: schema and medpipe
// versions, ITEM's ids and SOURCE (SourceJson), the settings digest and the models.
StudyResult NewStudyResult(const WorkItem& item, nlohmann::json source, const std::string& settings_sha256,
                           nlohmann::json models);

// The result of a study that never reached Export (its worker died or timed out, or loading threw),
// so the report shows why; a rerun redoes it, as its status is "failed".
StudyResult FailedStudyResult(const WorkItem& item, const std::string& settings_sha256, const nlohmann::json& models,
                              const Failure& failure);

// Marks RESULT failed by FAILURE: its "error" sentence and "failure" record.
void Fail(StudyResult& result, const Failure& failure);

// Publishes RESULT, a failed study's, in FOLDER (a new one when null); a failure to write even that is
// logged, as the study counts as failed either way.
void PublishFailedResult(const ResultStore& store, const WorkItem& item, const StudyResult& result,
                         StagedFolder* folder = nullptr);

}  // namespace medpipe::cli
