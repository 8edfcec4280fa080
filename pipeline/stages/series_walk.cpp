#include "stages/series_walk.h"

#include "medpipe/core/problem_code.h"

namespace medpipe::cli {

bool LeftOutByDesign(const dicom::Series& series) {
  return series.Refused() && DispositionOf(false, {ParseProblem(series.refusal)}) == Disposition::SkippedByDesign;
}

size_t ForEachSeries(const dicom::Study& study, SeriesDecoder& decoder, const SeriesLoaded& on_loaded,
                     const SeriesFailed& on_failed, const PickVolume& pick_volume) {
  size_t failures = 0;
  for (const auto& series : study.series) {
    if (series.Refused()) {
      if (!LeftOutByDesign(series)) ++failures;
      on_failed(series, RefusalFailure(series.refusal, series.files.front().path));
      continue;
    }
    try {
      DecodedSeries decoded = decoder.Decode(series, pick_volume ? pick_volume(series) : 0);
      on_loaded(series, decoded);
    } catch (const std::exception& error) {
      ++failures;
      on_failed(series, FailureOf(error));
    }
  }
  return failures;
}

std::string SeriesStem(const dicom::Series& series) { return std::to_string(series.series_number) + "_" + series.id; }

}  // namespace medpipe::cli
