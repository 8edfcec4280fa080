#pragma once
// What a classifier decided for one input, computed once from its class probabilities and the
// manifest's decision rule. result.json, results.csv, the pages, the overlay and the DICOM SR all print
// this one value, so no output can name a different class, probability or threshold than another.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "medpipe/model/manifest.h"

namespace medpipe::model {

enum class Verdict {
  Positive,      // the rule's class reached its threshold
  Negative,      // it did not
  MostProbable,  // no rule: the class is the most probable one
};

struct Decision {
  std::string class_name;            // the class decided on: the rule's class, else the most probable one
  double probability = 0;            // of class_name
  std::optional<double> threshold;   // the rule's threshold on that probability
  Verdict verdict = Verdict::MostProbable;
  std::string most_probable_class;   // the argmax, secondary to the decision where there is a rule
};

// PROBABILITIES[i] is the probability of MANIFEST's class i. Throws ModelError naming the model when
// the count differs from its classes.
Decision Decide(const Manifest& manifest, const std::vector<double>& probabilities);

// The index of DECISION's class among MANIFEST's classes.
int DecidedClass(const Manifest& manifest, const Decision& decision);

// "positive", "negative" or "most probable".
const char* VerdictName(Verdict verdict);

// One line: "pneumonia 0.35 (threshold 0.088): positive", or "normal 0.91 (most probable)".
std::string DecisionText(const Decision& decision);

// result.json's "decision": {class, probability, threshold (with a rule), result, most_probable_class}.
void to_json(nlohmann::json& json, const Decision& decision);
void from_json(const nlohmann::json& json, Decision& decision);

}  // namespace medpipe::model
