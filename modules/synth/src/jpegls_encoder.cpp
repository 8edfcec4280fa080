#include "jpegls_encoder.h"

#include <charls/charls.h>

#include "medpipe/core/error.h"

namespace medpipe::synth {

std::vector<uint8_t> EncodeJpegLsLossless(const GreyImage& image, const std::string& path) {
  try {
    const charls::frame_info frame{static_cast<uint32_t>(image.columns), static_cast<uint32_t>(image.rows),
                                   image.bits_stored, 1};
    charls::jpegls_encoder encoder;
    encoder.frame_info(frame);
    std::vector<uint8_t> codestream(encoder.estimated_destination_size());
    encoder.destination(codestream);
    codestream.resize(encoder.encode(image.pixels));
    if (codestream.size() % 2) codestream.push_back(0);
    return codestream;
  } catch (const charls::jpegls_error& error) {
    throw IoError(path, std::string("JPEG-LS encoding failed: ") + error.what());
  }
}

}  // namespace medpipe::synth
