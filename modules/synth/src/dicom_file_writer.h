#pragma once
#include <filesystem>

#include "grey_image.h"
#include "medpipe/synth/synthetic_study.h"

class DcmFileFormat;

namespace medpipe::synth {

// Adds the image pixel module and pixel data of `image` in the requested encoding to the dataset of
// `file`, then saves it with preamble and meta header. Throws medpipe::IoError naming `path`.
void WriteDicomFile(DcmFileFormat& file, const GreyImage& image, const std::filesystem::path& path, Encoding encoding);

}  // namespace medpipe::synth
