#pragma once
// Which model reads which series, decided from what the header pass knows, so that it is known before
// any pixel is decoded (`run --dry-run` shows it) and the same when the series is loaded.
#include <optional>
#include <string>
#include <vector>

#include "medpipe/dicom/series_index.h"
#include "medpipe/model/manifest.h"
#include "stages/series_work.h"

namespace medpipe::cli {

// What a model's choice depends on.
struct SeriesShape {
  std::string modality;                    // empty for NIfTI input, which any model may read
  std::optional<std::string> description;  // DICOM only: what a model's series selector reads
  size_t channels = 1;
  bool single_image = false;
};
SeriesShape ShapeOf(const dicom::Series& series);  // from its headers
SeriesShape ShapeOf(const SeriesContext& series);  // loaded (DICOM or NIfTI)

// Why MANIFEST's model does not read a series of SHAPE (modality, series selector, channels, 2-D or
// 3-D), or empty when it does.
std::string WhyModelSkips(const model::Manifest& manifest, const SeriesShape& shape);

// The volume of SERIES that MANIFEST's input.volume rule picks (0 for "first" and for a 3-D series
// that fits the rule). Throws DicomError naming the series, the model and the rule when none does.
size_t VolumeFor(const dicom::Series& series, const model::Manifest& manifest);

// The volume a series is loaded as, and the rule that picked it.
struct VolumeChoice {
  size_t index = 0;
  std::string rule = "first";  // model::VolumeRuleText
  std::string model;           // whose rule it is; empty when no model reads the series
};
// For the models of MANIFESTS that read SERIES, the volume the first (in --model order) whose rule
// fits picks; the others that want another volume fail on their own (ModelRunner::Prepare). Throws
// the first model's error when no rule fits.
VolumeChoice ChooseVolume(const dicom::Series& series, const std::vector<model::Manifest>& manifests);

// One line per series of STUDY for a dry run: which of MANIFESTS read it, and why the others do not.
std::vector<std::string> SelectionLines(const dicom::Study& study, const std::vector<model::Manifest>& manifests);

}  // namespace medpipe::cli
