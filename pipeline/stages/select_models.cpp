#include "stages/select_models.h"

#include <cmath>
#include <sstream>

#include "medpipe/core/error.h"

namespace medpipe::cli {

SeriesShape ShapeOf(const dicom::Series& series) {
  return {series.modality, series.description, series.files.front().pixels.samples_per_pixel, series.slices.size() == 1};
}

SeriesShape ShapeOf(const SeriesContext& series) {
  std::optional<std::string> description;
  if (series.source) description = series.source->series->description;
  const bool single_image = series.volume.Grid().GetLargestPossibleRegion().GetSize()[2] == 1;
  return {series.modality, description, series.volume.channels.size(), single_image};
}

std::string WhyModelSkips(const model::Manifest& manifest, const SeriesShape& shape) {
  const std::string& wanted = manifest.channels.front().modality;
  if (!shape.modality.empty() && shape.modality != wanted) return "model reads " + wanted + ", series is " + shape.modality;
  if (shape.description && !model::SelectsSeries(manifest, *shape.description))
    return "series description '" + *shape.description + "' does not match the model's selector '" +
           manifest.series_description + "'";
  if (shape.channels != manifest.channels.size())
    return "model reads " + std::to_string(manifest.channels.size()) + " channel(s), series has " +
           std::to_string(shape.channels);
  if (manifest.spatial_dims == 3 && shape.single_image) return "3-D model, series is a single image";
  if (manifest.spatial_dims == 2 && manifest.task == model::Task::Classification && !shape.single_image)
    return "2-D classifier, series is a volume";
  return "";
}

namespace {

std::string BValuesText(const dicom::Series& series) {
  std::ostringstream text;
  for (size_t v = 0; v < series.VolumeCount(); ++v) {
    const auto b_value = series.VolumeFrame(v).b_value;
    text << (v ? ", " : "") << (b_value ? std::to_string(std::lround(*b_value)) : "none");
  }
  return text.str();
}

}  // namespace

size_t VolumeFor(const dicom::Series& series, const model::Manifest& manifest) {
  using Kind = model::VolumeRule::Kind;
  const model::VolumeRule& rule = manifest.volume;
  const size_t count = series.VolumeCount();
  const auto fail = [&](const std::string& reason) -> size_t {
    throw DicomError(series.files.front().path, "series #" + std::to_string(series.series_number) + " '" +
                                                    series.description + "' (" + series.id + "): model " + manifest.name +
                                                    " reads input.volume " + model::VolumeRuleText(rule) + ", but " + reason);
  };
  switch (rule.kind) {
    case Kind::First: return 0;
    case Kind::Index:
      if (rule.index >= count) return fail("the series has " + std::to_string(count) + " volume(s)");
      return rule.index;
    case Kind::BValue:
      for (size_t v = 0; v < count; ++v) {
        const auto b_value = series.VolumeFrame(v).b_value;
        if (b_value && std::abs(*b_value - rule.b_value) <= model::VolumeRule::kBValueTolerance) return v;
      }
      return fail("no volume of its " + std::to_string(count) + " has that b-value (b-values: " + BValuesText(series) + ")");
  }
  return 0;
}

VolumeChoice ChooseVolume(const dicom::Series& series, const std::vector<model::Manifest>& manifests) {
  std::exception_ptr first_error;
  for (const model::Manifest& manifest : manifests) {
    if (!WhyModelSkips(manifest, ShapeOf(series)).empty()) continue;
    try {
      return {VolumeFor(series, manifest), model::VolumeRuleText(manifest.volume), manifest.name};
    } catch (const DicomError&) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
  return {};
}

std::vector<std::string> SelectionLines(const dicom::Study& study, const std::vector<model::Manifest>& manifests) {
  std::vector<std::string> lines;
  for (const dicom::Series& series : study.series) {
    std::string line = "  series #" + std::to_string(series.series_number) + " '" + series.description + "': ";
    if (series.Refused()) {
      lines.push_back(line + "not loaded (" + series.refusal + ")");
      continue;
    }
    std::string reads, skips;
    for (const model::Manifest& manifest : manifests) {
      const std::string why = WhyModelSkips(manifest, ShapeOf(series));
      if (why.empty()) reads += (reads.empty() ? "" : ", ") + manifest.name;
      else skips += "; " + manifest.name + " skips it (" + why + ")";
    }
    std::string volume;
    if (series.VolumeCount() > 1 && !reads.empty()) {
      try {
        const VolumeChoice choice = ChooseVolume(series, manifests);
        volume = " (volume " + std::to_string(choice.index) + " of " + std::to_string(series.VolumeCount()) + ", " +
                 choice.model + "'s input.volume " + choice.rule + ")";
      } catch (const DicomError& error) {
        volume = " (fails: " + std::string(error.what()) + ")";
      }
    }
    lines.push_back(line + "read by " + (reads.empty() ? "no model" : reads) + volume + skips);
  }
  return lines;
}

}  // namespace medpipe::cli
