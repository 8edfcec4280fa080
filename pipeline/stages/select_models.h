#pragma once
// Which model reads which series, decided from what the header pass and the loaded volume's shape say.
#include <string>

#include "medpipe/model/manifest.h"
#include "series_work.h"

namespace medpipe::cli {

// Why MANIFEST's model does not read SERIES (modality, series selector, channels, 2-D or 3-D), or
// empty when it does.
std::string WhyModelSkips(const model::Manifest& manifest, const SeriesContext& series);

}  // namespace medpipe::cli
