#pragma once
// What the values of a NIfTI label mask mean, written beside it: NIfTI itself has no place for label
// names, so without these a viewer shows numbers.
#include <filesystem>
#include <vector>

#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

// The files written for a mask at MASK_PATH (".../<stem>.nii.gz").
struct LabelDescriptionFiles {
  std::filesystem::path json;     // <stem>.json: value -> name, colour, codes, modifier, laterality
  std::filesystem::path itksnap;  // <stem>_labels.txt: an ITK-SNAP label description file (Slicer imports it too)
};

LabelDescriptionFiles LabelDescriptionPaths(const std::filesystem::path& mask_path);

// Writes both files for LABELS beside MASK_PATH, each atomically. Throws IoError naming the file.
LabelDescriptionFiles WriteLabelDescriptions(const std::vector<model::Label>& labels,
                                             const std::filesystem::path& mask_path);

}  // namespace medpipe::exporter
