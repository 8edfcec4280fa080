#pragma once
// The pixel pass for one file: every transfer syntax ingest supports, to modality values.
#include <cstdint>
#include <string>
#include <vector>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

// The transfer syntaxes DecodePixels reads, as a receiver should prefer them when a sender offers
// several for one object: lossless compression first (a sender offers it when it holds the object so,
// and then nothing is converted), uncompressed next, lossy last (never chosen over lossless).
const std::vector<std::string>& ReadableTransferSyntaxes();

// Samples DecodePixels writes for HEADER's file: slice rows x columns x samples per pixel x slices.
uint64_t DecodedSamples(const FileHeader& header);

// Decodes all frames of the file HEADER describes into OUT, which has room for DecodedSamples:
// modality values (rescale applied, MONOCHROME1 inverted, colour as interleaved RGB), frame after
// frame (mosaic tiles as frames), each row after row. Safe to call from several threads at once.
// Throws DicomError naming the file when the transfer syntax is unsupported or the decoded pixels
// disagree with the header.
void DecodePixels(const FileHeader& header, float* out);

}  // namespace medpipe::dicom
