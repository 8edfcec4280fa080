#pragma once
// The pixel pass for one file: every transfer syntax ingest supports, to modality values.
#include <cstdint>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

// Samples DecodePixels writes for HEADER's file: slice rows x columns x samples per pixel x slices.
uint64_t DecodedSamples(const FileHeader& header);

// Decodes all frames of the file HEADER describes into OUT, which has room for DecodedSamples:
// modality values (rescale applied, MONOCHROME1 inverted, colour as interleaved RGB), frame after
// frame (mosaic tiles as frames), each row after row. Safe to call from several threads at once.
// Throws DicomError naming the file when the transfer syntax is unsupported or the decoded pixels
// disagree with the header.
void DecodePixels(const FileHeader& header, float* out);

}  // namespace medpipe::dicom
