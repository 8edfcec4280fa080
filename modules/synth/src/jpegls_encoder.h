#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "grey_image.h"

namespace medpipe::synth {

// Lossless JPEG-LS codestream of one frame (CharLS; signed values as their bit patterns), padded to
// even length as a DICOM pixel item requires. Throws medpipe::IoError naming `path`.
std::vector<uint8_t> EncodeJpegLsLossless(const GreyImage& image, const std::string& path);

}  // namespace medpipe::synth
