#pragma once
// The review pictures: a segmentation's montage, a classifier's heat map, and the series' picture.
#include <string>
#include <vector>

#include "medpipe/core/study_result.h"
#include "medpipe/model/manifest.h"
#include "stages/series_work.h"

namespace medpipe::cli {

// The axial/coronal/sagittal montage of LABELS with a legend of MEASURES' volumes; returns its name
// in SERIES.folder.
std::string WriteSegmentationOverlay(const SeriesContext& series, const model::Manifest& manifest,
                                     const LabelImage& labels, const std::vector<LabelResult>& measures);

// HEATMAP (on the series' grid) alone as a PNG; returns its name in SERIES.folder.
std::string WriteHeatmap(const SeriesContext& series, const model::Manifest& manifest, const Image3D& heatmap);

// HEATMAP's review copy (report/review_copy.h: thousandths, in-plane at most 512) that the study page's
// viewer lays over the image; returns its name in SERIES.folder.
std::string WriteHeatmapReview(const SeriesContext& series, const model::Manifest& manifest, const Image3D& heatmap);

// The series' review picture: its first segmentation's montage, else the X-ray with the findings (and
// the first classifier's heat map) or the plain volume. Returns the PNG's name in SERIES.folder.
std::string WriteSeriesOverlay(const SeriesContext& series, const SeriesAnalysis& analysis);

}  // namespace medpipe::cli
