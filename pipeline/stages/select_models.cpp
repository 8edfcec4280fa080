#include "select_models.h"

namespace medpipe::cli {

std::string WhyModelSkips(const model::Manifest& manifest, const SeriesContext& series) {
  const std::string& wanted = manifest.channels.front().modality;
  const std::string& modality = series.modality;
  const Volume& volume = series.volume;
  if (!modality.empty() && modality != wanted) return "model reads " + wanted + ", series is " + modality;
  if (series.source && !model::SelectsSeries(manifest, series.source->series->description))
    return "series description '" + series.source->series->description + "' does not match the model's selector '" +
           manifest.series_description + "'";
  if (volume.channels.size() != manifest.channels.size())
    return "model reads " + std::to_string(manifest.channels.size()) + " channel(s), series has " +
           std::to_string(volume.channels.size());
  const bool single_image = volume.Grid().GetLargestPossibleRegion().GetSize()[2] == 1;
  if (manifest.spatial_dims == 3 && single_image) return "3-D model, series is a single image";
  if (manifest.spatial_dims == 2 && manifest.task == model::Task::Classification && !single_image)
    return "2-D classifier, series is a volume";
  return "";
}

}  // namespace medpipe::cli
