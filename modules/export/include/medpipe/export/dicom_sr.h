#pragma once
// DICOM Structured Report (Comprehensive 3D SR / Enhanced SR) following TID 1500 "Measurement Report",
// written with DCMTK's dcmsr content mapping resource: what the models found in one study, each
// finding pointing at the SEG segment and source series it was measured on.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/dicom/source_series.h"
#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

// The volume of one segment of a SEG. LABEL gives the name and the category and type codes (SNOMED CT
// "Anatomical Structure" / "Tissue" when its codes are empty, as in the SEG).
struct SegmentVolume {
  int segment_number = 0;
  model::Label label;
  double volume_ml = 0;
};

// One SEG object medpipe wrote (SOP class Segmentation Storage) and the volumes of its segments.
struct SegmentationFindings {
  std::string seg_sop_instance_uid, seg_series_instance_uid;
  std::string model_name, model_version;
  const dicom::SourceSeries* source = nullptr;  // the images the segmentation was computed on
  std::vector<SegmentVolume> segments;
};

// What a classification model decided for one series.
struct ClassificationFinding {
  std::string model_name, model_version;
  const dicom::SourceSeries* source = nullptr;
  std::string class_name;          // the decided class
  double probability = 0;          // of that class
  std::optional<double> threshold; // the decision threshold, when the model has one
};

// Writes a TID 1500 measurement report at PATH for the study of the sources. Under "Imaging
// Measurements", each segment becomes a TID 1411 volumetric ROI measurement group: tracking identifier
// and UID, finding (the label's type code), finding site (the type, when the category is "Anatomical
// Structure"), referenced SEG segment, source series, and its volume (SCT "Volume", UCUM ml) with the
// model as algorithm identification. Each classification becomes a TID 1501 measurement group: its
// probability (DCM "Probability", UCUM "1") and threshold (DCM "Threshold Value") as measurements and
// the decided class as a TEXT qualitative evaluation ("Finding"). Patient and study come from the first
// source's re-encoded header; series and instance UIDs are new; every referenced instance is listed
// as evidence. Returns the SR's SOPInstanceUID.
// Throws DicomError naming PATH (or the source file) and why: no findings, sources from different
// studies, a source without files, or DCMTK refusing the content (its template check or write status).
std::string WriteMeasurementReport(const std::vector<SegmentationFindings>& segmentations,
                                   const std::vector<ClassificationFinding>& classifications,
                                   const std::filesystem::path& path);

}  // namespace medpipe::exporter
