#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "grey_image.h"

namespace medpipe::synth {

// Lossless JPEG 2000 codestream (J2K, reversible 5/3 wavelet, one quality layer) of one frame,
// padded to even length as a DICOM pixel item requires. Throws medpipe::IoError naming `path`.
std::vector<uint8_t> EncodeJ2kLossless(const GreyImage& image, const std::string& path);

}  // namespace medpipe::synth
