#pragma once
// The batch page's cohort plots, inline SVG drawn here (no script, nothing fetched): per segmentation
// label, each study's volume on one axis with the quartile box, the 1.5 IQR fences and the label's
// normal range when result.json gives one ("normal_range_ml": [low, high]), outliers in red; per
// classifier, the histogram of the decided probability with the threshold.
#include <map>
#include <string>
#include <vector>

#include "study_results.h"

namespace medpipe::report {

// Quartiles are numpy.percentile's default ("linear", medpipe/core/percentile.h) of the volumes; the
// fences lie 1.5 IQR below the first and above the third. A volume outside a fence or outside its
// label's normal range is an outlier (a fence or range edge itself is not).
// Fewer studies than this give no fences: their quartiles say nothing.
constexpr size_t kMinStudiesForFences = 4;

struct CohortPlots {
  std::string html;                                       // a figure per label and classifier
  std::map<std::string, std::vector<std::string>> outliers;  // study folder -> why its volume stands out
};

CohortPlots DrawCohortPlots(const std::vector<Study>& studies);

}  // namespace medpipe::report
