#pragma once
// The shared loop of convert and run: load each usable series of a study, report the rest.
#include <functional>
#include <string>

#include "isolation/series_decoder.h"
#include "medpipe/core/study_result.h"
#include "medpipe/dicom/series_index.h"

namespace medpipe::cli {

using SeriesLoaded = std::function<void(const dicom::Series&, DecodedSeries&)>;
// FAILURE.message is the sentence for people ("error" in result.json), the rest is for programs.
using SeriesFailed = std::function<void(const dicom::Series&, const Failure& failure)>;
// Which volume of a 4-D series to decode, called just before that series is decoded (and ON_LOADED
// called with it); may throw, which fails the series.
using PickVolume = std::function<size_t(const dicom::Series&)>;

// Localizers, secondary captures and non-image objects: the index refuses them by design, which is
// no failure (they are not what a model reads). Decided by the problem table (core/problem_code.h),
// as result.json's disposition is.
bool LeftOutByDesign(const dicom::Series& series);

// Decodes every series of STUDY that is not refused, with DECODER; a failure in one series is reported
// and the walk goes on. Series that are refused at index time or fail to load go to ON_FAILED.
// PICK_VOLUME chooses the volume of each series (volume 0 without it). Returns the failure count.
size_t ForEachSeries(const dicom::Study& study, SeriesDecoder& decoder, const SeriesLoaded& on_loaded,
                     const SeriesFailed& on_failed, const PickVolume& pick_volume = nullptr);

// File-name prefix of a series' outputs: "<series number>_<series id>".
std::string SeriesStem(const dicom::Series& series);

}  // namespace medpipe::cli
