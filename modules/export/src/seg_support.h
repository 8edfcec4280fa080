#pragma once
// Pieces the SEG writer and reader share: DCMTK status checks and the label value of each segment.
#include <dcmtk/ofstd/ofcond.h>

#include <cstdint>
#include <string>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

// DCMTK reports failure as a status; medpipe reports it as DicomError naming the file.
inline void Require(const OFCondition& status, const std::string& where, const std::string& doing) {
  if (status.bad()) throw DicomError(where, doing + ": " + status.text());
}

// The label value of segment N + 1 at [N]: segments are numbered in LABELS order. Label images hold
// values 1..255, so any other value could never be written or read back.
inline std::vector<uint8_t> SegmentValues(const std::vector<model::Label>& labels, const std::string& where) {
  std::vector<uint8_t> values;
  for (const model::Label& label : labels) {
    if (label.value < 1 || label.value > 255) {
      throw ModelError(where, "label '" + label.name + "' has value " + std::to_string(label.value) +
                                  "; label images hold values 1 to 255");
    }
    values.push_back(static_cast<uint8_t>(label.value));
  }
  if (values.empty()) throw ModelError(where, "no labels: a SEG needs at least one segment");
  return values;
}

}  // namespace medpipe::exporter
