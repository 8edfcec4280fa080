#pragma once
// A loaded DICOM series as the outputs that reference it (SEG, RTSTRUCT, SR) see it: its index entry
// and its first file's header as re-encoded by the process that decoded the series. Outputs copy
// patient, study and frame of reference from that copy, so the process that writes them (and holds
// the models) never parses the archive's own bytes.
#include <memory>
#include <string>

#include "medpipe/dicom/series_index.h"

class DcmFileFormat;

namespace medpipe::dicom {

struct SourceSeries {
  const Series* series = nullptr;
  // A DICOM file: explicit VR little endian, no pixel data, no value longer than 4 KiB.
  std::string header;
  size_t volume = 0;  // which volume of a 4-D series was loaded (Series::VolumeSlices)
};

// Reads SERIES' first file with values over 4 KiB left on disk, drops those and the pixel data, and
// encodes the rest as SourceSeries::header. Throws DicomError naming the file.
std::string ReencodeSourceHeader(const Series& series);

// FILE (a header without pixel data) encoded as SourceSeries::header; throws DicomError naming WHERE.
std::string EncodeSourceHeader(DcmFileFormat& file, const std::string& where);

// SOURCE's header parsed (never the archive's file); throws DicomError naming its first file.
std::unique_ptr<DcmFileFormat> ParseSourceHeader(const SourceSeries& source);

// How a reviewer knows a study: from its header, empty where absent.
struct StudyLabels {
  std::string date, accession_number, description;
};
StudyLabels StudyLabelsOf(const SourceSeries& source);

}  // namespace medpipe::dicom
