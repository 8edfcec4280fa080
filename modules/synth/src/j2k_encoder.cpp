#include "j2k_encoder.h"

#include <openjpeg.h>

#include <algorithm>
#include <memory>

#include "medpipe/core/error.h"

namespace medpipe::synth {

namespace {

constexpr int kMaxResolutions = 6;

// OpenJPEG writes through callbacks; this keeps the codestream in memory.
struct MemoryStream {
  std::vector<uint8_t> bytes;
  size_t position = 0;

  void MoveTo(size_t new_position) {
    position = new_position;
    if (position > bytes.size()) bytes.resize(position);
  }
};

OPJ_SIZE_T WriteBytes(void* buffer, OPJ_SIZE_T count, void* user_data) {
  auto& stream = *static_cast<MemoryStream*>(user_data);
  const size_t start = stream.position;
  stream.MoveTo(start + count);
  std::copy_n(static_cast<const uint8_t*>(buffer), count, stream.bytes.begin() + static_cast<std::ptrdiff_t>(start));
  return count;
}

OPJ_OFF_T SkipBytes(OPJ_OFF_T count, void* user_data) {
  auto& stream = *static_cast<MemoryStream*>(user_data);
  if (static_cast<OPJ_OFF_T>(stream.position) + count < 0) return -1;
  stream.MoveTo(static_cast<size_t>(static_cast<OPJ_OFF_T>(stream.position) + count));
  return count;
}

OPJ_BOOL SeekTo(OPJ_OFF_T offset, void* user_data) {
  if (offset < 0) return OPJ_FALSE;
  static_cast<MemoryStream*>(user_data)->MoveTo(static_cast<size_t>(offset));
  return OPJ_TRUE;
}

void KeepMessage(const char* message, void* user_data) { *static_cast<std::string*>(user_data) = message; }

// OpenJPEG needs every resolution level to keep at least one pixel.
int ResolutionsFor(const GreyImage& image) {
  int resolutions = 1;
  while (resolutions < kMaxResolutions && (std::min(image.columns, image.rows) >> resolutions) > 0) ++resolutions;
  return resolutions;
}

using ImagePtr = std::unique_ptr<opj_image_t, decltype(&opj_image_destroy)>;
using CodecPtr = std::unique_ptr<opj_codec_t, decltype(&opj_destroy_codec)>;
using StreamPtr = std::unique_ptr<opj_stream_t, decltype(&opj_stream_destroy)>;

ImagePtr ToOpenJpegImage(const GreyImage& image) {
  opj_image_cmptparm_t component{};
  component.dx = 1;
  component.dy = 1;
  component.w = static_cast<OPJ_UINT32>(image.columns);
  component.h = static_cast<OPJ_UINT32>(image.rows);
  component.prec = static_cast<OPJ_UINT32>(image.bits_stored);
  component.sgnd = image.is_signed ? 1 : 0;
  ImagePtr result(opj_image_create(1, &component, OPJ_CLRSPC_GRAY), &opj_image_destroy);
  if (!result) return result;
  result->x1 = component.w;
  result->y1 = component.h;

  const int32_t mask = (1 << image.bits_stored) - 1;
  const int32_t sign_bit = 1 << (image.bits_stored - 1);
  OPJ_INT32* data = result->comps[0].data;
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    const int32_t value = image.pixels[i] & mask;
    data[i] = image.is_signed && (value & sign_bit) ? value - (mask + 1) : value;
  }
  return result;
}

}  // namespace

std::vector<uint8_t> EncodeJ2kLossless(const GreyImage& image, const std::string& path) {
  std::string message = "unknown OpenJPEG error";
  const auto fail = [&](const char* step) {
    return IoError(path, std::string("JPEG 2000 ") + step + " failed: " + message);
  };

  ImagePtr opj_image = ToOpenJpegImage(image);
  if (!opj_image) throw fail("image setup");

  opj_cparameters_t parameters;
  opj_set_default_encoder_parameters(&parameters);
  parameters.irreversible = 0;
  parameters.tcp_numlayers = 1;
  parameters.tcp_rates[0] = 0;  // rate 0: keep every bit
  parameters.cp_disto_alloc = 1;
  parameters.numresolution = ResolutionsFor(image);

  CodecPtr codec(opj_create_compress(OPJ_CODEC_J2K), &opj_destroy_codec);
  if (!codec) throw fail("codec setup");
  opj_set_error_handler(codec.get(), KeepMessage, &message);
  if (!opj_setup_encoder(codec.get(), &parameters, opj_image.get())) throw fail("encoder setup");

  MemoryStream memory;
  StreamPtr stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_FALSE), &opj_stream_destroy);
  if (!stream) throw fail("stream setup");
  opj_stream_set_write_function(stream.get(), WriteBytes);
  opj_stream_set_skip_function(stream.get(), SkipBytes);
  opj_stream_set_seek_function(stream.get(), SeekTo);
  opj_stream_set_user_data(stream.get(), &memory, nullptr);

  if (!opj_start_compress(codec.get(), opj_image.get(), stream.get()) || !opj_encode(codec.get(), stream.get()) ||
      !opj_end_compress(codec.get(), stream.get())) {
    throw fail("encoding");
  }
  if (memory.bytes.size() % 2 != 0) memory.bytes.push_back(0);
  return std::move(memory.bytes);
}

}  // namespace medpipe::synth
