#include "stages/classify.h"

#include "medpipe/model/decision.h"

namespace medpipe::cli {

Classification Classify(const model::Manifest& manifest, const std::vector<double>& probabilities,
                        const SeriesContext& series) {
  Classification result{model::Decide(manifest, probabilities), nlohmann::json::object(), "", std::nullopt};
  for (const auto& label : manifest.labels) result.probabilities[label.name] = probabilities[label.value];
  result.finding = manifest.name + ": " + DecisionText(result.decision);
  if (series.Referenceable()) {
    const model::Code& code = manifest.labels[model::DecidedClass(manifest, result.decision)].type;
    result.sr = exporter::ClassificationFinding{IdentityOf(manifest), series.source, result.decision, code};
  }
  return result;
}

}  // namespace medpipe::cli
