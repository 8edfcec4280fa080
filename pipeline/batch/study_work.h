#pragma once
// The work on one study, in the three steps the worker overlaps across studies (worker.h): Load (CPU),
// Infer (the device), Export (CPU). StudyStages is the real one; the worker sees only this interface,
// so it and the supervisor are tested with fakes, without LibTorch or the models.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "batch/work_list.h"
#include "medpipe/core/study_result.h"

namespace medpipe::cli {

// A study between steps, opaque to the worker: what Load made, passed on to Infer and Export.
struct StudyInProgress {
  virtual ~StudyInProgress() = default;
};

class StudyWork {
 public:
  virtual ~StudyWork() = default;
  // For the worker's "ready" event: the settings digest and the models as loaded.
  virtual std::string SettingsSha256() const = 0;
  virtual nlohmann::json ModelsJson() const = 0;
  // Null when ITEM's complete result is already there (the resume rule of resume.h).
  virtual std::unique_ptr<StudyInProgress> Load(const WorkItem& item) = 0;
  // Records model errors in the study; does not throw.
  virtual void Infer(StudyInProgress& study) const = 0;
  // Writes the study's folder as a whole; returns its failure count.
  virtual size_t Export(StudyInProgress& study) const = 0;
  // Publishes ITEM as failed by FAILURE (a step threw), keeping what STUDY (null when it did not load)
  // has written and recorded so far.
  virtual void PublishFailed(const WorkItem& item, StudyInProgress* study, const Failure& failure) const = 0;
};

}  // namespace medpipe::cli
