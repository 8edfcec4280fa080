#include "medpipe/core/study_result.h"

#include <cstdio>

#include "medpipe/core/problem_code.h"

namespace medpipe {
namespace {

using nlohmann::json;

std::string Formatted(const char* format, double value) {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// Every enum value and its name, in one place for both directions.
template <typename Enum>
Enum Named(const std::string& name, std::initializer_list<Enum> values, const char* (*name_of)(Enum), const json& where) {
  for (const Enum value : values) {
    if (name == name_of(value)) return value;
  }
  throw json::out_of_range::create(403, "'" + name + "' is not a known value", &where);
}

// An entry's "outputs": kind -> file name.
std::map<std::string, std::string> OutputsIn(const json& in) {
  std::map<std::string, std::string> outputs;
  const json listed = in.value("outputs", json::object());  // items() would outlive a temporary
  for (const auto& [kind, name] : listed.items())
    if (name.is_string()) outputs[kind] = name;
  return outputs;
}

}  // namespace

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::Ok: return "ok";
    case Outcome::Skipped: return "skipped";
    case Outcome::Failed: return "failed";
  }
  return "failed";
}

const char* DispositionName(Disposition disposition) {
  switch (disposition) {
    case Disposition::Accepted: return "accepted";
    case Disposition::SkippedByDesign: return "skipped_by_design";
    case Disposition::Refused: return "refused";
  }
  return "refused";
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::Positive: return "positive";
    case Verdict::Negative: return "negative";
    case Verdict::MostProbable: return "most probable";
  }
  return "most probable";
}

Failure FailureOf(const std::exception& error) {
  if (const auto* known = dynamic_cast<const Error*>(&error)) return {"", known->Kind(), known->Where(), known->what()};
  return {"", ErrorKind::Internal, "", std::string("unexpected failure: ") + error.what()};
}

void to_json(json& out, const Failure& failure) {
  out = {{"kind", ErrorKindName(failure.kind)}, {"where", failure.where}, {"message", failure.message}};
  if (!failure.code.empty()) out["code"] = failure.code;
}

void from_json(const json& in, Failure& failure) {
  failure.code = in.value("code", "");
  const std::string kind = in.at("kind");
  const auto known = ErrorKindNamed(kind);
  if (!known) throw json::out_of_range::create(403, "error kind '" + kind + "'", &in);
  failure.kind = *known;
  failure.where = in.at("where");
  failure.message = in.at("message");
}

Problem ParseProblem(const std::string& text) {
  const auto colon = text.find(": ");
  if (colon == std::string::npos) return {text, ""};
  return {text.substr(0, colon), text.substr(colon + 2)};
}

// Two decimals for a probability; three significant digits keep a small threshold such as 0.0878 apart
// from the probabilities it separates.
std::string DecisionText(const Decision& decision) {
  const std::string probability = decision.class_name + " " + Formatted("%.2f", decision.probability);
  if (!decision.threshold) return probability + " (most probable)";
  return probability + " (threshold " + Formatted("%.3g", *decision.threshold) + "): " + VerdictName(decision.verdict);
}

void to_json(json& out, const Decision& decision) {
  out = {{"class", decision.class_name},
         {"probability", decision.probability},
         {"result", VerdictName(decision.verdict)},
         {"most_probable_class", decision.most_probable_class}};
  if (decision.threshold) out["threshold"] = *decision.threshold;
}

void from_json(const json& in, Decision& decision) {
  decision.class_name = in.at("class");
  decision.probability = in.at("probability");
  decision.most_probable_class = in.at("most_probable_class");
  decision.threshold.reset();
  if (in.contains("threshold")) decision.threshold = in["threshold"].get<double>();
  decision.verdict = Named(in.at("result").get<std::string>(), {Verdict::Positive, Verdict::Negative, Verdict::MostProbable},
                           VerdictName, in);
}

void from_json(const json& in, LabelResult& label) {
  label = {in.at("value").get<int>(), in.at("name").get<std::string>(), in.at("volume_ml").get<double>(), std::nullopt, in};
  if (in.contains("normal_range_ml")) label.normal_range_ml = in["normal_range_ml"].get<std::array<double, 2>>();
}

void to_json(json& out, const LabelResult& label) {
  out = label.json;
  out.update({{"value", label.value}, {"name", label.name}, {"volume_ml", label.volume_ml}});
  out.erase("normal_range_ml");
  if (label.normal_range_ml) out["normal_range_ml"] = *label.normal_range_ml;
}

void from_json(const json& in, Analysis& analysis) {
  analysis = {};
  analysis.model = in.at("model");
  analysis.version = in.value("version", "");
  analysis.task = in.at("task");
  if (in.contains("error")) {
    analysis.outcome = Outcome::Failed;
    analysis.reason = in["error"];
  } else if (in.contains("skipped")) {
    analysis.outcome = Outcome::Skipped;
    analysis.reason = in["skipped"];
  }
  if (in.contains("failure")) analysis.failure = in["failure"].get<Failure>();
  analysis.fallbacks = in.value("fallbacks", std::vector<std::string>{});
  analysis.labels = in.value("labels", std::vector<LabelResult>{});
  if (in.contains("decision")) analysis.decision = in["decision"].get<Decision>();
  analysis.outputs = OutputsIn(in);
  analysis.json = in;
}

void to_json(json& out, const Analysis& analysis) {
  out = analysis.json;
  out.update({{"model", analysis.model}, {"version", analysis.version}, {"task", analysis.task}});
  out.erase("error");
  out.erase("skipped");
  if (analysis.outcome == Outcome::Failed) out["error"] = analysis.reason;
  if (analysis.failure) out["failure"] = *analysis.failure;
  if (analysis.outcome == Outcome::Skipped) out["skipped"] = analysis.reason;
  if (out.contains("fallbacks") || !analysis.fallbacks.empty()) out["fallbacks"] = analysis.fallbacks;
  if (!analysis.labels.empty()) out["labels"] = analysis.labels;
  if (analysis.decision) out["decision"] = *analysis.decision;
  for (const auto& [kind, name] : analysis.outputs) out["outputs"][kind] = name;
}

void from_json(const json& in, SeriesResult& series) {
  series = {};
  series.id = in.at("id");
  series.modality = in.at("modality");
  series.description = in.value("description", "");
  if (in.contains("series_number")) series.series_number = in["series_number"].get<int>();
  series.error = in.value("error", "");
  if (in.contains("failure")) series.failure = in["failure"].get<Failure>();
  for (const json& problem : in.at("problems")) series.problems.push_back(ParseProblem(problem.get<std::string>()));
  series.disposition = DispositionOf(in.at("loaded"), series.problems);
  if (in.contains("overlay")) series.overlay = in["overlay"].get<std::string>();
  if (in.contains("review_image")) series.review_image = in["review_image"].get<std::string>();
  series.analyses = in.at("analyses").get<std::vector<Analysis>>();
  series.json = in;
}

void to_json(json& out, const SeriesResult& series) {
  out = series.json;
  out.update({{"id", series.id}, {"modality", series.modality}, {"loaded", series.disposition == Disposition::Accepted}});
  json problems = json::array();
  for (const Problem& problem : series.problems)
    problems.push_back(problem.detail.empty() ? problem.code : problem.code + ": " + problem.detail);
  out["problems"] = problems;
  if (!series.error.empty()) out["error"] = series.error;
  if (series.failure) out["failure"] = *series.failure;
  if (series.overlay) out["overlay"] = *series.overlay;
  if (series.review_image) out["review_image"] = *series.review_image;
  out["analyses"] = series.analyses;
}

void from_json(const json& in, StudyResult& study) {
  study = {};
  study.study_id = in.at("study_id");
  study.study_instance_uid = in.value("study_instance_uid", "");
  study.study_date = in.value("study_date", "");
  study.accession_number = in.value("accession_number", "");
  study.study_description = in.value("study_description", "");
  const std::string status = in.at("status");
  if (status != "ok" && status != "failed") throw json::out_of_range::create(403, "status '" + status + "'", &in);
  study.ok = status == "ok";
  study.error = in.value("error", "");
  if (in.contains("failure")) study.failure = in["failure"].get<Failure>();
  study.sr_error = in.value("sr_error", "");
  study.outputs = OutputsIn(in);
  study.series = in.at("series").get<std::vector<SeriesResult>>();
  study.json = in;
}

void to_json(json& out, const StudyResult& study) {
  out = study.json;
  out.update({{"study_id", study.study_id}, {"status", study.ok ? "ok" : "failed"}, {"series", study.series}});
  for (const auto& [key, value] : {std::pair{"study_instance_uid", &study.study_instance_uid},
                                   {"study_date", &study.study_date},
                                   {"accession_number", &study.accession_number},
                                   {"study_description", &study.study_description}})
    if (!value->empty()) out[key] = *value;
  if (!study.error.empty()) out["error"] = study.error;
  if (study.failure) out["failure"] = *study.failure;
  if (!study.sr_error.empty()) out["sr_error"] = study.sr_error;
  for (const auto& [kind, name] : study.outputs) out["outputs"][kind] = name;
}

}  // namespace medpipe
