#include "j2k_decoder.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

struct MemorySource {
  const uint8_t* data;
  size_t size;
  size_t offset;
};

OPJ_SIZE_T Read(void* buffer, OPJ_SIZE_T bytes, void* user) {
  auto* source = static_cast<MemorySource*>(user);
  const size_t left = source->size - source->offset;
  if (left == 0) return static_cast<OPJ_SIZE_T>(-1);
  const size_t n = std::min<size_t>(bytes, left);
  std::memcpy(buffer, source->data + source->offset, n);
  source->offset += n;
  return n;
}

OPJ_OFF_T Skip(OPJ_OFF_T bytes, void* user) {
  auto* source = static_cast<MemorySource*>(user);
  const auto target = std::clamp<OPJ_OFF_T>(static_cast<OPJ_OFF_T>(source->offset) + bytes, 0, static_cast<OPJ_OFF_T>(source->size));
  const OPJ_OFF_T moved = target - static_cast<OPJ_OFF_T>(source->offset);
  source->offset = static_cast<size_t>(target);
  return moved;
}

OPJ_BOOL Seek(OPJ_OFF_T position, void* user) {
  auto* source = static_cast<MemorySource*>(user);
  if (position < 0 || static_cast<size_t>(position) > source->size) return OPJ_FALSE;
  source->offset = static_cast<size_t>(position);
  return OPJ_TRUE;
}

bool IsJp2File(const uint8_t* data, size_t size) {
  static const uint8_t kJp2Signature[] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20};
  return size >= sizeof(kJp2Signature) && std::memcmp(data, kJp2Signature, sizeof(kJp2Signature)) == 0;
}

}  // namespace

std::vector<int32_t> DecodeJ2kFrame(const uint8_t* data, size_t size, const PixelLayout& layout, const std::string& path) {
  MemorySource source{data, size, 0};
  std::unique_ptr<opj_codec_t, decltype(&opj_destroy_codec)> codec(
      opj_create_decompress(IsJp2File(data, size) ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K), opj_destroy_codec);
  std::unique_ptr<opj_stream_t, decltype(&opj_stream_destroy)> stream(opj_stream_create(1 << 16, OPJ_TRUE),
                                                                       opj_stream_destroy);
  opj_stream_set_user_data(stream.get(), &source, nullptr);
  opj_stream_set_user_data_length(stream.get(), size);
  opj_stream_set_read_function(stream.get(), Read);
  opj_stream_set_skip_function(stream.get(), Skip);
  opj_stream_set_seek_function(stream.get(), Seek);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  if (!opj_setup_decoder(codec.get(), &parameters)) throw DicomError(path, "JPEG 2000 decoder setup failed");

  opj_image_t* raw_image = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw_image)) {
    throw DicomError(path, "JPEG 2000 codestream header is invalid");
  }
  std::unique_ptr<opj_image_t, decltype(&opj_image_destroy)> image(raw_image, opj_image_destroy);
  // SIZ must agree with Rows/Columns before any sample is allocated.
  if (image->x1 - image->x0 != layout.columns || image->y1 - image->y0 != layout.rows ||
      image->numcomps != layout.samples_per_pixel) {
    throw DicomError(path, "JPEG 2000 image is " + std::to_string(image->x1 - image->x0) + " x " +
                               std::to_string(image->y1 - image->y0) + " x " + std::to_string(image->numcomps) +
                               " components, the header declares " + std::to_string(layout.columns) + " x " +
                               std::to_string(layout.rows) + " x " + std::to_string(layout.samples_per_pixel));
  }
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get())) {
    throw DicomError(path, "JPEG 2000 codestream is corrupt or truncated");
  }
  const size_t pixels = size_t{layout.rows} * layout.columns;
  std::vector<int32_t> values(pixels * image->numcomps);
  for (OPJ_UINT32 c = 0; c < image->numcomps; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.w != layout.columns || comp.h != layout.rows || !comp.data) {
      throw DicomError(path, "JPEG 2000 component " + std::to_string(c) + " is subsampled, which is not supported");
    }
    for (size_t i = 0; i < pixels; ++i) values[i * image->numcomps + c] = comp.data[i];
  }
  return values;
}

}  // namespace medpipe::dicom
