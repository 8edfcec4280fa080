#pragma once
// The models of a run, applied to each loaded series: preprocess, infer, map back, postprocess,
// write masks, and describe it all for result.json.
#include <filesystem>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "medpipe/core/volume.h"
#include "medpipe/inference/model.h"
#include "medpipe/inference/predictor.h"

namespace medpipe::cli {

// --model, --device, --precision, --batch-size, --overlap, --tta.
void AddModelOptions(boost::program_options::options_description& options);

class ModelRunner {
 public:
  // Loads and checks every --model before any study is touched; a bad model throws ModelError.
  explicit ModelRunner(const boost::program_options::variables_map& vm);

  // One entry per model: what it found, or why it did not apply or failed. Segmentation masks are
  // written to FOLDER/STEM_<model>.nii.gz on the series' own grid. MODALITY is empty for NIfTI input,
  // which any model may read. Adds the number of models that failed to FAILURES.
  nlohmann::json Analyse(const Volume& volume, const std::string& modality, const std::filesystem::path& folder,
                         const std::string& stem, size_t& failures);

  nlohmann::json ModelsJson() const;

 private:
  std::vector<inference::LoadedModel> models_;
  inference::PredictOptions options_;
};

}  // namespace medpipe::cli
