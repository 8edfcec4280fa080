#pragma once
// DICOM Structured Report (Comprehensive 3D SR / Enhanced SR) following TID 1500 "Measurement Report",
// written with DCMTK's dcmsr content mapping resource: what the models found in one study, each
// finding pointing at the SEG segment and source series it was measured on.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "medpipe/dicom/source_series.h"
#include "medpipe/model/decision.h"
#include "medpipe/model/manifest.h"

namespace medpipe::exporter {

// The model that made a finding, as TID 4019 "Algorithm Identification" names it: name, version
// and, as its parameter, the sha256 of model.pt, so a reader can tell two builds of one version apart.
struct ModelIdentity {
  std::string name, version, sha256;
};

// The mean of the source's values over one segment: HU for CT, the stored scale otherwise.
struct MeanIntensity {
  double value = 0;
  bool hounsfield = false;
};

// One segment of a SEG. LABEL gives the name and codes (SNOMED CT "Anatomical Structure" / "Tissue"
// when its codes are empty, as in the SEG), modifier and laterality.
struct SegmentVolume {
  int segment_number = 0;
  model::Label label;
  double volume_ml = 0;
  std::optional<MeanIntensity> mean;  // absent for colour series
};

// One SEG object medpipe wrote (SOP class Segmentation Storage) and the volumes of its segments.
struct SegmentationFindings {
  std::string seg_sop_instance_uid, seg_series_instance_uid;
  ModelIdentity model;
  const dicom::SourceSeries* source = nullptr;  // the images the segmentation was computed on
  std::vector<SegmentVolume> segments;
};

// What a classification model decided for one series (model::Decide: the one decision every output
// prints) and the coded concept of the decided class.
struct ClassificationFinding {
  ModelIdentity model;
  const dicom::SourceSeries* source = nullptr;
  Decision decision;
  model::Code finding;  // e.g. SCT 233604007 "Pneumonia"; empty when the manifest codes no class
};

// Writes a TID 1500 measurement report at PATH for the study of the sources.
// - The TID 1600 Image Library lists every source image (with the descriptors the header pass knows),
//   so viewers can link measurements to images.
// - Each segment becomes a TID 1411 volumetric ROI measurement group: tracking identifier and UID,
//   finding (the label's type code), finding site (the type with its modifier and laterality, when the
//   category is "Anatomical Structure"), referenced SEG segment, source series, its volume (SCT
//   "Volume", ml) and mean intensity (SCT "Mean"), each with the model's TID 4019 identification.
// - Each classification becomes a TID 1501 measurement group about the decided class: tracking
//   identifier "<model>: <class>", finding (the class's code), the probability OF THAT CLASS (DCM
//   "Probability") and the threshold that applies to it (DCM "Threshold Value"), each with the model's
//   TID 4019 identification and source images, and a qualitative evaluation: the class's concept with
//   SCT "Present" (52101004) or "Absent" (2667000) as the decision says; a class without a code is
//   given as TEXT "Finding" = "<class>: positive|negative|most probable".
// Patient and study come from the first source's re-encoded header; series and instance UIDs are new
// (2.25 UUIDs); SeriesDescription names the first source series; de-identification attributes of a
// source marked PatientIdentityRemoved carry over. Returns the SR's SOPInstanceUID.
// Throws DicomError naming PATH (or the source file) and why: no findings, sources from different
// studies, a source without files, or DCMTK refusing the content (its template check or write status).
std::string WriteMeasurementReport(const std::vector<SegmentationFindings>& segmentations,
                                   const std::vector<ClassificationFinding>& classifications,
                                   const std::filesystem::path& path);

}  // namespace medpipe::exporter
