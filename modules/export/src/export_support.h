#pragma once
// Private helpers every export writer and reader shares (SEG, SR, RTSTRUCT, the geometry check):
// DCMTK status checks, segment label values, new UIDs, derived series numbers and descriptions,
// de-identification marks, decimal strings, label codes with defaults, the source's header, the
// source slice at a mask slice, and empty label images.
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/ofstd/ofuuid.h>
#include <dcmtk/ofstd/ofcond.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/core/error.h"
#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_index.h"
#include "medpipe/dicom/source_series.h"
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

// A new UID under 2.25 (PS3.5 B.2: a UUID as a decimal number), never under DCMTK's own root: medpipe
// has no root of its own, and objects from every medpipe site must not look like DCMTK's examples.
inline std::string NewUid() {
  OFString uid;
  OFUUID().toString(uid, OFUUID::ER_RepresentationOID);
  return uid.c_str();
}

// Derived series are numbered above their source's so viewers list them after it.
enum SeriesNumberOffset { kSegSeries = 1000, kRtStructSeries = 2000, kReportSeries = 3000 };

// A derived series' description names what it is and its source series (description and number), so
// two segmented series of one study can be told apart. The source's text is untrusted and its bytes
// may not be valid in any character set: a backslash would split the value in two, so only printable
// ASCII other than the backslash is kept (anything else becomes '?'); cut to the 64 characters of a LO.
inline std::string DerivedSeriesDescription(const std::string& what, const dicom::Series& source) {
  std::string description = source.description;
  for (char& c : description) c = (c == '\\' || c < 0x20 || c > 0x7e) ? '?' : c;
  std::string text = what + " of " + (description.empty() ? "series" : "'" + description + "'");
  if (source.series_number > 0) text += " #" + std::to_string(source.series_number);
  return text.substr(0, 64);
}

// In an object made from a de-identified source: its own dates and times replaced by dummies (D) or
// removed (X) as the profile asks (deidentify.cpp).
void ReplaceOwnDates(DcmItem& output, const std::string& where);

// A source marked PatientIdentityRemoved (by --deidentify or upstream) keeps that mark and the
// methods used in what medpipe derives from it, so a receiving archive treats both alike, and the
// derived object carries no dates of its own.
inline void CopyDeidentification(DcmItem& source_header, DcmItem& output, const std::string& where) {
  OFString removed;
  if (source_header.findAndGetOFString(DCM_PatientIdentityRemoved, removed).bad() || removed != "YES") return;
  for (const DcmTagKey& tag : {DCM_PatientIdentityRemoved, DCM_DeidentificationMethod,
                               DCM_DeidentificationMethodCodeSequence, DCM_LongitudinalTemporalInformationModified}) {
    DcmElement* element = nullptr;
    if (source_header.findAndGetElement(tag, element).good() && element) {
      Require(output.insert(static_cast<DcmElement*>(element->clone()), true), where,
              std::string("cannot copy ") + DcmTag(tag).getTagName());
    }
  }
  ReplaceOwnDates(output, where);
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

// The centre of the first voxel of MASK slice K: where a frame or contour image of that slice lies.
inline LabelImage::PointType SliceCorner(const LabelImage& mask, size_t k) {
  LabelImage::PointType corner;
  mask.TransformIndexToPhysicalPoint({{0, 0, static_cast<itk::IndexValueType>(k)}}, corner);
  return corner;
}

// The source slice whose ImagePositionPatient is the centre of the first voxel of MASK slice K, if any.
// Positions are compared in 3D, so a slice moved in plane (a resampled tilt) is not mistaken for its
// source; 1% of the slice gap (at least 1 um) absorbs decimal-string rounding and never reaches a
// neighbour.
inline std::optional<dicom::SliceRef> SourceSliceOf(const dicom::Series& source, const LabelImage& mask, size_t k) {
  const LabelImage::PointType corner = SliceCorner(mask, k);
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
