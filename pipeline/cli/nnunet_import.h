#pragma once
#include <string>
#include <vector>

namespace medpipe::cli {

// `medpipe model import nnunet RESULTS_DIR --out DIR [...]` (ARGS after "import"): scripts/nnunet_export.py
// writes model.pt, nnunet.json and MODEL_CARD.md, then the package gets its manifest.json and is sealed.
// Only a complete package reaches DIR; a refusal keeps the exporter's message (exit 2).
int ImportCommand(const std::vector<std::string>& args);

}  // namespace medpipe::cli
