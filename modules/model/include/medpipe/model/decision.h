#pragma once
// What a classifier decided for one input (medpipe::Decision, a result type), computed once from its
// class probabilities and the manifest's decision rule. result.json, results.csv, the pages, the
// overlay and the DICOM SR all print this one value, so no output can name a different class,
// probability or threshold than another.
#include <vector>

#include "medpipe/core/study_result.h"
#include "medpipe/model/manifest.h"

namespace medpipe::model {

// PROBABILITIES[i] is the probability of MANIFEST's class i. The decision is about the rule's class
// (positive when its probability reaches the threshold), else the most probable class. Throws
// ModelError naming the model when the count differs from its classes.
Decision Decide(const Manifest& manifest, const std::vector<double>& probabilities);

// The index of DECISION's class among MANIFEST's classes.
int DecidedClass(const Manifest& manifest, const Decision& decision);

}  // namespace medpipe::model
