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

// One line per series of STUDY for a dry run: which of MANIFESTS read it, and why the others do not.
std::vector<std::string> SelectionLines(const dicom::Study& study, const std::vector<model::Manifest>& manifests);

}  // namespace medpipe::cli
