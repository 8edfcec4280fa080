#pragma once
// One study's work in three stages that the worker overlaps across studies (see worker.h):
// Load (CPU: digest, skip check, decode every series in a decoder process, preprocess for each
// model), Infer (the
// device), Export (CPU: postprocess, write outputs, overlays, SR and result.json, then commit).
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "batch/resume.h"
#include "batch/study_work.h"
#include "batch/work_list.h"
#include "isolation/series_decoder.h"
#include "medpipe/core/files.h"
#include "medpipe/core/stopwatch.h"
#include "stages/model_runner.h"
#include "stages/overlays.h"

namespace medpipe::cli {

// One series of a study in flight: its volume while loaded, its result, its model jobs.
struct SeriesInFlight {
  dicom::SourceSeries source;  // what the outputs reference and copy; no series for NIfTI input
  std::unique_ptr<dicom::Series> deidentified;  // under --deidentify, the copy SOURCE points at
  std::string modality, stem;
  std::optional<Volume> volume;
  SeriesResult result;
  std::vector<ModelJob> jobs;
};

// A study between stages; it owns its decoded volumes, so the number in flight bounds memory.
struct StudyInFlight : StudyInProgress {
  const WorkItem* item = nullptr;
  nlohmann::json source;
  std::unique_ptr<StagedFolder> folder;
  std::vector<SeriesInFlight> series;
  StudyResult result;  // what is about the study as a whole: its SR, or why it or the study failed
  size_t failures = 0;
  Stopwatch clock;
};

struct StudyOptions {
  bool force = false;       // redo studies already complete
  bool deidentify = false;  // the de-identification stage (stages/deidentify.h) before anything is written
};

// What every study of a run shares: the models, where results go, and the settings digest.
class StudyStages : public StudyWork {
 public:
  StudyStages(ModelRunner& models, SeriesDecoder& decoder, const ResultStore& store, StudyOptions options);

  // StudyWork's steps (study_work.h); the studies in progress are StudyInFlight.
  std::unique_ptr<StudyInProgress> Load(const WorkItem& item) override;
  void Infer(StudyInProgress& study) const override;
  size_t Export(StudyInProgress& study) const override;
  void PublishFailed(const WorkItem& item, StudyInProgress* study, const Failure& failure) const override;

  // Whether ITEM would be skipped (for --dry-run).
  bool AlreadyComplete(const WorkItem& item) const;

  std::string SettingsSha256() const override { return settings_sha256_; }
  nlohmann::json ModelsJson() const override { return models_.ModelsJson(); }

 private:
  bool Complete(const WorkItem& item, const nlohmann::json& source) const;
  void LoadDicom(StudyInFlight& study);
  void LoadNifti(StudyInFlight& study);
  void Prepare(StudyInFlight& study, SeriesInFlight& series);
  StudyResult ResultOf(StudyInFlight& study) const;

  ModelRunner& models_;
  SeriesDecoder& decoder_;
  const ResultStore& store_;
  std::string settings_sha256_;
  StudyOptions options_;
};

}  // namespace medpipe::cli
