#include "medpipe/model/decision.h"

#include <algorithm>

#include "medpipe/core/error.h"

namespace medpipe::model {

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

}  // namespace medpipe::model
