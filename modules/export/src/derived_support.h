#pragma once
// What every object derived from a loaded source series needs (the SR and RTSTRUCT writers; the SEG
// writer has its own copies of NewUid, Ds, the default codes and the slice match, which it can take
// from here): new UIDs, decimal strings, label codes with defaults, the source's header, and the
// source slice at a mask slice.
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "medpipe/core/error.h"
#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_index.h"
#include "medpipe/model/manifest.h"
#include "seg_support.h"

namespace medpipe::exporter {

inline std::string NewUid() {
  char uid[100];
  return dcmGenerateUniqueIdentifier(uid, SITE_INSTANCE_UID_ROOT);
}

// A decimal string (DS) holds at most 16 characters; 10 significant digits always fit and keep
// positions to well under a micrometre.
inline std::string Ds(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", value);
  return text;
}

// Empty codes in a manifest fall back to the most general SNOMED CT concepts a viewer can show.
inline const model::Code& CategoryOf(const model::Label& label) {
  static const model::Code kAnatomicalStructure{"91723000", "SCT", "Anatomical Structure"};
  return label.category.value.empty() ? kAnatomicalStructure : label.category;
}

inline const model::Code& TypeOf(const model::Label& label) {
  static const model::Code kTissue{"85756007", "SCT", "Tissue"};
  return label.type.value.empty() ? kTissue : label.type;
}

// The first source file's header: patient, study and frame of reference. Values over 4 KiB (pixel
// data) stay on disk.
inline std::unique_ptr<DcmFileFormat> LoadSourceHeader(const dicom::Series& source, const std::string& where) {
  if (source.files.empty()) throw DicomError(where, "source series " + source.id + " has no files");
  const std::string& path = source.files.front().path;
  auto file = std::make_unique<DcmFileFormat>();
  Require(file->loadFile(path.c_str(), EXS_Unknown, EGL_noChange, 4096), path, "cannot read the source header");
  return file;
}

// The source slice whose ImagePositionPatient is the centre of the first voxel of MASK slice K, if any.
// Positions are compared in 3D, so a slice moved in plane (a resampled tilt) is not mistaken for its
// source; 1% of the slice gap (at least 1 um) absorbs decimal-string rounding and never reaches a
// neighbour.
inline std::optional<dicom::SliceRef> SourceSliceOf(const dicom::Series& source, const LabelImage& mask, size_t k) {
  LabelImage::PointType corner;
  mask.TransformIndexToPhysicalPoint({{0, 0, static_cast<itk::IndexValueType>(k)}}, corner);
  const double tolerance = std::max(1e-3, 0.01 * mask.GetSpacing()[2]);
  for (const dicom::SliceRef& slice : source.slices) {
    const auto& position = source.files[slice.file].frames[slice.frame].position;
    if (position && std::hypot((*position)[0] - corner[0], (*position)[1] - corner[1], (*position)[2] - corner[2]) <=
                        tolerance) {
      return slice;
    }
  }
  return std::nullopt;
}

// An empty label image on GRID's voxels.
inline LabelImage::Pointer EmptyLabelImageOn(const itk::ImageBase<3>& grid) {
  auto image = LabelImage::New();
  image->SetRegions(grid.GetLargestPossibleRegion());
  image->SetSpacing(grid.GetSpacing());
  image->SetOrigin(grid.GetOrigin());
  image->SetDirection(grid.GetDirection());
  image->Allocate(true);
  return image;
}

}  // namespace medpipe::exporter
