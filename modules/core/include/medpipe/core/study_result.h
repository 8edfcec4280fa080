#pragma once
// One study's result as result.json records it (docs/result-schema.json), as types: the report,
// results.csv and resume read these, not JSON keys. Each type keeps the entry it was read from
// (`json`), so fields not typed here (timings, volume geometry, features) travel unchanged and
// to_json gives back exactly what was read.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/core/error.h"

namespace medpipe {

enum class Outcome { Ok, Skipped, Failed };
const char* OutcomeName(Outcome outcome);  // "ok", "skipped", "failed"

// How the pipeline took a series: loaded and analysed; left out by design (localizers, secondary
// captures, non-image objects: what no model reads); or refused because something is wrong with it.
enum class Disposition { Accepted, SkippedByDesign, Refused };
const char* DispositionName(Disposition disposition);  // "accepted", "skipped_by_design", "refused"

// A problem code (README "Outcomes") and what it says of this series, parsed once from the index's
// "code: detail" text.
struct Problem {
  std::string code, detail;
};
Problem ParseProblem(const std::string& text);

// What went wrong, for programs (result.json's "failure", beside the sentence in "error"): a problem
// code when a coded problem is the cause (docs/problem-codes.md), the error's kind (dicom, io, config,
// model, network, internal), the file or setting it is about, and the whole message.
struct Failure {
  std::string code;
  ErrorKind kind = ErrorKind::Internal;
  std::string where, message;
};
// ERROR's kind, where and message; anything that is not a medpipe Error is internal.
Failure FailureOf(const std::exception& error);

// What a classifier decided (model::Decide computes it): the one value every output prints.
enum class Verdict {
  Positive,      // the rule's class reached its threshold
  Negative,      // it did not
  MostProbable,  // no rule: the class is the most probable one
};
const char* VerdictName(Verdict verdict);  // "positive", "negative", "most probable"

struct Decision {
  std::string class_name;           // the class decided on: the rule's class, else the most probable one
  double probability = 0;           // of class_name
  std::optional<double> threshold;  // the rule's threshold on that probability
  Verdict verdict = Verdict::MostProbable;
  std::string most_probable_class;  // the argmax, secondary to the decision where there is a rule
};
// One line: "pneumonia 0.35 (threshold 0.0878): positive", or "normal 0.91 (most probable)".
std::string DecisionText(const Decision& decision);

// A segmentation label's measures: its volume typed, the rest (shape, intensities) as recorded.
struct LabelResult {
  int value = 0;
  std::string name;
  double volume_ml = 0;
  std::optional<std::array<double, 2>> normal_range_ml;  // [low, high] mL, when the model's manifest gives one
  nlohmann::json json;
};

// One model applied to one series.
struct Analysis {
  std::string model, version, task;
  Outcome outcome = Outcome::Ok;
  std::string reason;  // why it was skipped or failed
  std::optional<Failure> failure;  // when it failed
  std::vector<std::string> fallbacks;
  std::vector<LabelResult> labels;           // segmentation
  std::optional<Decision> decision;          // classification
  std::map<std::string, std::string> outputs;  // kind (nifti, seg, overlay, ...) -> file in the study folder
  nlohmann::json json;
};

struct SeriesResult {
  std::string id, modality, description;
  std::optional<int> series_number;
  Disposition disposition = Disposition::Accepted;
  std::string error;  // why it was not loaded
  std::optional<Failure> failure;
  std::vector<Problem> problems;
  std::optional<std::string> overlay;  // the series' review picture
  std::optional<std::string> review_image;  // the copy of its volume the study page's slice viewer shows
  std::vector<Analysis> analyses;
  nlohmann::json json;
};

struct StudyResult {
  std::string study_id, study_instance_uid;
  std::string study_date, accession_number, study_description;  // how a reviewer knows it; empty when absent
  bool ok = true;      // "status": failed when any series failed to load or any analysis failed
  std::string error;     // why the study has no results (its worker died, it timed out, a stage threw)
  std::optional<Failure> failure;  // the same, for programs
  std::string sr_error;  // why its measurement report could not be written
  std::map<std::string, std::string> outputs;  // study-level objects: kind (sr) -> file in the study folder
  std::vector<SeriesResult> series;
  nlohmann::json json;
};

void to_json(nlohmann::json& json, const Failure& failure);
void from_json(const nlohmann::json& json, Failure& failure);
void to_json(nlohmann::json& json, const Decision& decision);
void from_json(const nlohmann::json& json, Decision& decision);
void from_json(const nlohmann::json& json, LabelResult& label);
void from_json(const nlohmann::json& json, Analysis& analysis);
void from_json(const nlohmann::json& json, SeriesResult& series);
void from_json(const nlohmann::json& json, StudyResult& study);
// The recorded entries with the typed fields written over them.
void to_json(nlohmann::json& json, const LabelResult& label);
void to_json(nlohmann::json& json, const Analysis& analysis);
void to_json(nlohmann::json& json, const SeriesResult& series);
void to_json(nlohmann::json& json, const StudyResult& study);

}  // namespace medpipe
