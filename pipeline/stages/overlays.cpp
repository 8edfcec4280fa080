#include "stages/overlays.h"

#include <sstream>

#include "medpipe/report/overlay.h"
#include "medpipe/report/review_copy.h"

namespace medpipe::cli {
namespace {

std::string Fixed(double value, int digits) {
  std::ostringstream text;
  text.setf(std::ios::fixed);
  text.precision(digits);
  text << value;
  return text.str();
}

// Each label's colour and volume for the legend.
std::vector<report::LegendEntry> Legend(const model::Manifest& manifest, const std::vector<LabelResult>& measures) {
  std::vector<report::LegendEntry> legend;
  for (size_t i = 0; i < manifest.labels.size(); ++i) {
    const auto& label = manifest.labels[i];
    legend.push_back({label.value, label.name, label.colour, Fixed(measures[i].volume_ml, 2) + " mL"});
  }
  return legend;
}

}  // namespace

std::string WriteSegmentationOverlay(const SeriesContext& series, const model::Manifest& manifest,
                                     const LabelImage& labels, const std::vector<LabelResult>& measures) {
  const std::string name = series.stem + "_" + manifest.name + ".png";
  report::WriteVolumeOverlay(series.volume.Grid(), &labels, Legend(manifest, measures), series.modality, series.folder / name);
  return name;
}

std::string WriteHeatmap(const SeriesContext& series, const model::Manifest& manifest, const Image3D& heatmap) {
  const std::string name = series.stem + "_" + manifest.name + "_heatmap.png";
  report::WriteHeatmapPng(heatmap, series.folder / name);
  return name;
}

std::string WriteHeatmapReview(const SeriesContext& series, const model::Manifest& manifest, const Image3D& heatmap) {
  const std::string name = series.stem + "_" + manifest.name + "_heatmap.nii.gz";
  report::WriteReviewImage(heatmap, series.folder / name, report::kHeatmapReviewScale);
  return name;
}

std::string WriteSeriesOverlay(const SeriesContext& series, const SeriesAnalysis& analysis) {
  for (const Analysis& one : analysis.analyses) {
    const auto overlay = one.outputs.find("overlay");
    if (overlay != one.outputs.end()) return overlay->second;
  }
  const std::string name = series.stem + ".png";
  const Image3D& image = series.volume.Grid();
  if (image.GetLargestPossibleRegion().GetSize()[2] == 1) {
    report::WriteXrayOverlay(image, analysis.findings, analysis.heatmap.GetPointer(), series.folder / name);
  } else {
    report::WriteVolumeOverlay(image, nullptr, {}, series.modality, series.folder / name);
  }
  return name;
}

}  // namespace medpipe::cli
