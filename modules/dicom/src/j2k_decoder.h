#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

// Decodes one JPEG 2000 frame (J2K codestream or JP2 file) with OpenJPEG into stored values,
// interleaved by sample. The codestream's size and components must match LAYOUT.
std::vector<int32_t> DecodeJ2kFrame(const uint8_t* data, size_t size, const PixelLayout& layout, const std::string& path);

}  // namespace medpipe::dicom
