#pragma once
// The pixel pass for one file: every transfer syntax ingest supports, to modality values.
#include <cstdint>
#include <vector>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

struct DecodedPixels {
  // Modality values (rescale applied, MONOCHROME1 inverted, colour as interleaved RGB),
  // frame after frame, each frame row after row.
  std::vector<float> samples;
  uint32_t samples_per_pixel = 1;
};

// Decodes all frames of the file HEADER describes. Throws DicomError naming the file when the
// transfer syntax is unsupported or the decoded pixels disagree with the header.
DecodedPixels DecodePixels(const FileHeader& header);

}  // namespace medpipe::dicom
