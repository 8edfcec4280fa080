#pragma once
// Groups scanned files into studies and series, splits mixed series, orders slices, records problems.
#include <string>
#include <vector>

#include "medpipe/dicom/archive_scanner.h"
#include "medpipe/dicom/slice_stack.h"

namespace medpipe::dicom {

enum class SeriesKind {
  Volume,           // a stack of slices with patient geometry
  Projection,       // one 2D image: CR/DX/MG and other single images without a stack
  Localizer,        // scout/topogram: kept out of volumes
  SecondaryCapture, // screenshots and derived pictures: kept out of volumes
  NonImage,         // SR, KO, PR and other objects without pixels
};

const char* SeriesKindName(SeriesKind kind);

// One frame of one file, placed in the series.
struct SliceRef {
  size_t file = 0;   // index into Series::files
  size_t frame = 0;  // frame number inside that file
};

struct Series {
  std::string id;  // stable, filesystem-safe: derived from SeriesInstanceUID and the split key
  std::string series_instance_uid;
  std::string modality;
  std::string description;
  int series_number = 0;
  SeriesKind kind = SeriesKind::Volume;
  std::vector<FileHeader> files;
  std::vector<SliceRef> slices;  // in order along the slice normal for volumes; volume 0 of a 4-D series
  // 4-D series (fMRI, diffusion, perfusion): the slices of volumes 1, 2, ..., each in the order of
  // SLICES (same positions, same grid). Empty for a 3-D series.
  std::vector<std::vector<SliceRef>> later_volumes;
  SliceStack stack;              // geometry of the ordered slices (volumes only)
  std::string split_key;         // non-empty when one SeriesInstanceUID was split
  std::vector<std::string> problems;  // "code: explanation"; codes listed in README
  std::string refusal;           // the first of PROBLEMS that stops this series from loading; empty when it loads
  std::string unreferenceable;   // "path: reason" when SEG/RTSTRUCT/SR cannot reference its images

  bool Refused() const { return !refusal.empty(); }
  size_t VolumeCount() const { return 1 + later_volumes.size(); }
  // The slices of volume V (0 <= V < VolumeCount()).
  const std::vector<SliceRef>& VolumeSlices(size_t v) const { return v == 0 ? slices : later_volumes.at(v - 1); }
  // The first frame of volume V, which carries its b-value, gradient and temporal position.
  const FrameInfo& VolumeFrame(size_t v) const {
    const SliceRef& slice = VolumeSlices(v).front();
    return files[slice.file].frames[slice.frame];
  }
};

struct Study {
  std::string id;  // ShortId(StudyInstanceUID)
  std::string study_instance_uid;
  std::string study_date;
  std::vector<Series> series;
};

struct ArchiveIndex {
  std::vector<Study> studies;
  std::vector<PathProblem> problems;  // per-file and per-folder problems from the scan
  size_t files_seen = 0;
  size_t non_dicom_files = 0;
  size_t duplicate_files = 0;
  std::vector<std::filesystem::path> nifti_files;  // NIfTI volumes found beside the DICOM
};

struct IndexOptions {
  bool refuse_gantry_tilt = false;  // refuse tilted series instead of resampling them
  // Philips: voxels as the "precise floating point" value, stored / (2005,100E) ScaleSlope (dcm2niix's
  // default), instead of DICOM's display value stored x RescaleSlope + RescaleIntercept.
  bool philips_float = false;
};

ArchiveIndex BuildIndex(ScanResult scan, const IndexOptions& options = {});

}  // namespace medpipe::dicom
