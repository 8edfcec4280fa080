#include "medpipe/model/decision.h"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "medpipe/core/error.h"

namespace medpipe::model {
namespace {

// Two decimals for a probability; three significant digits keep a small threshold such as 0.0878 apart
// from the probabilities it separates.
std::string Formatted(const char* format, double value) {
  char text[32];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

}  // namespace

Decision Decide(const Manifest& manifest, const std::vector<double>& probabilities) {
  if (probabilities.size() != manifest.labels.size()) {
    throw ModelError(manifest.name, "gave " + std::to_string(probabilities.size()) + " class probabilities for " +
                                        std::to_string(manifest.labels.size()) + " classes");
  }
  const auto most_probable = std::max_element(probabilities.begin(), probabilities.end()) - probabilities.begin();
  Decision decision;
  decision.most_probable_class = manifest.labels[most_probable].name;
  const int decided = manifest.decision ? manifest.decision->positive_class : static_cast<int>(most_probable);
  decision.class_name = manifest.labels[decided].name;
  decision.probability = probabilities[decided];
  if (manifest.decision) {
    decision.threshold = manifest.decision->threshold;
    decision.verdict = decision.probability >= *decision.threshold ? Verdict::Positive : Verdict::Negative;
  }
  return decision;
}

int DecidedClass(const Manifest& manifest, const Decision& decision) {
  const auto found = std::find_if(manifest.labels.begin(), manifest.labels.end(),
                                  [&](const Label& label) { return label.name == decision.class_name; });
  if (found == manifest.labels.end()) throw ModelError(manifest.name, "has no class '" + decision.class_name + "'");
  return found->value;
}

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::Positive: return "positive";
    case Verdict::Negative: return "negative";
    case Verdict::MostProbable: return "most probable";
  }
  return "most probable";
}

std::string DecisionText(const Decision& decision) {
  const std::string probability = decision.class_name + " " + Formatted("%.2f", decision.probability);
  if (!decision.threshold) return probability + " (most probable)";
  return probability + " (threshold " + Formatted("%.3g", *decision.threshold) + "): " + VerdictName(decision.verdict);
}

void to_json(nlohmann::json& json, const Decision& decision) {
  json = {{"class", decision.class_name},
          {"probability", decision.probability},
          {"result", VerdictName(decision.verdict)},
          {"most_probable_class", decision.most_probable_class}};
  if (decision.threshold) json["threshold"] = *decision.threshold;
}

void from_json(const nlohmann::json& json, Decision& decision) {
  decision.class_name = json.at("class");
  decision.probability = json.at("probability");
  decision.most_probable_class = json.at("most_probable_class");
  decision.threshold.reset();
  if (json.contains("threshold")) decision.threshold = json["threshold"].get<double>();
  const std::string result = json.at("result");
  for (const Verdict verdict : {Verdict::Positive, Verdict::Negative, Verdict::MostProbable}) {
    if (result == VerdictName(verdict)) {
      decision.verdict = verdict;
      return;
    }
  }
  throw nlohmann::json::out_of_range::create(403, "decision result '" + result + "' is not a verdict", &json);
}

}  // namespace medpipe::model
