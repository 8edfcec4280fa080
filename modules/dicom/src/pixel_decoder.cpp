#include "medpipe/dicom/pixel_decoder.h"

#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <new>

#include "dicom_text.h"
#include "j2k_decoder.h"
#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

void RegisterCodecsOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Colour JPEG arrives as YBR; the codec converts it to RGB and updates the header to say so.
    DJDecoderRegistration::registerCodecs(EDC_photometricInterpretation);
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

bool IsJpeg2000(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000;
}

// Frames of an encapsulated JPEG 2000 stream, each the concatenation of its fragments.
std::vector<std::vector<uint8_t>> EncapsulatedFrames(DcmPixelData& pixel_data, E_TransferSyntax xfer,
                                                     uint64_t frames, const std::string& path) {
  DcmPixelSequence* sequence = nullptr;
  if (pixel_data.getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || !sequence) {
    throw DicomError(path, "encapsulated (7FE0,0010) PixelData has no fragments");
  }
  const unsigned long fragments = sequence->card();  // item 0 is the basic offset table
  if (fragments < 2) throw DicomError(path, "encapsulated (7FE0,0010) PixelData has no fragments");
  std::vector<Uint32> starts;
  if (frames == 1) {
    starts = {1};
  } else if (fragments - 1 == frames) {
    for (Uint32 i = 1; i < fragments; ++i) starts.push_back(i);
  } else {
    for (Uint32 frame = 0; frame < frames; ++frame) {
      Uint32 item = 0;
      if (DcmCodec::determineStartFragment(frame, static_cast<Sint32>(frames), sequence, item).bad()) {
        throw DicomError(path, "cannot find the fragments of frame " + std::to_string(frame) +
                                   ": basic offset table missing or inconsistent");
      }
      starts.push_back(item);
    }
  }
  std::vector<std::vector<uint8_t>> result;
  for (size_t f = 0; f < starts.size(); ++f) {
    const Uint32 end = f + 1 < starts.size() ? starts[f + 1] : fragments;
    std::vector<uint8_t> bytes;
    for (Uint32 i = starts[f]; i < end; ++i) {
      DcmPixelItem* item = nullptr;
      Uint8* data = nullptr;
      if (sequence->getItem(item, i).bad() || item->getUint8Array(data).bad()) {
        throw DicomError(path, "fragment " + std::to_string(i) + " of (7FE0,0010) PixelData is unreadable");
      }
      bytes.insert(bytes.end(), data, data + item->getLength());
    }
    result.push_back(std::move(bytes));
  }
  return result;
}

std::vector<int32_t> DecodeJpeg2000(DcmDataset& dataset, const FileHeader& header) {
  DcmElement* element = nullptr;
  dataset.findAndGetElement(DCM_PixelData, element);
  auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
  if (!pixel_data) throw DicomError(header.path, "(7FE0,0010) PixelData is missing");
  std::vector<int32_t> values;
  values.reserve(header.pixels.TotalBytes() / ((header.pixels.bits_allocated + 7) / 8));
  for (const auto& frame : EncapsulatedFrames(*pixel_data, dataset.getOriginalXfer(), header.pixels.number_of_frames,
                                              header.path)) {
    const auto decoded = DecodeJ2kFrame(frame.data(), frame.size(), header.pixels, header.path);
    values.insert(values.end(), decoded.begin(), decoded.end());
  }
  return values;
}

// Native little-endian pixel bytes to stored values: keep BitsStored bits, extend the sign.
std::vector<int32_t> NativeValues(DcmDataset& dataset, const PixelLayout& layout, const std::string& path) {
  const uint64_t count = layout.TotalBytes() / (layout.bits_allocated / 8);
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DCM_PixelData, element).bad() || !element) {
    throw DicomError(path, "(7FE0,0010) PixelData is missing");
  }
  if (element->getLength() < layout.TotalBytes()) {
    throw DicomError(path, "decoded PixelData has " + std::to_string(element->getLength()) + " bytes, the header needs " +
                               std::to_string(layout.TotalBytes()));
  }
  const unsigned shift = layout.high_bit + 1 - layout.bits_stored;
  const uint32_t mask = layout.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << layout.bits_stored) - 1);
  const bool is_signed = layout.pixel_representation == 1;
  const auto convert = [&](uint32_t raw) {
    uint32_t value = (raw >> shift) & mask;
    if (is_signed && layout.bits_stored < 32 && (value >> (layout.bits_stored - 1)) & 1u) value |= ~mask;
    return static_cast<int32_t>(value);
  };
  std::vector<int32_t> values(count);
  if (layout.bits_allocated == 8) {
    Uint8* data = nullptr;
    if (element->getUint8Array(data).bad() || !data) throw DicomError(path, "(7FE0,0010) PixelData is unreadable");
    for (uint64_t i = 0; i < count; ++i) values[i] = convert(data[i]);
  } else if (layout.bits_allocated == 16) {
    Uint16* data = nullptr;
    if (element->getUint16Array(data).bad() || !data) throw DicomError(path, "(7FE0,0010) PixelData is unreadable");
    for (uint64_t i = 0; i < count; ++i) values[i] = convert(data[i]);
  } else {
    Uint8* data = nullptr;
    if (element->getUint8Array(data).bad() || !data) throw DicomError(path, "(7FE0,0010) PixelData is unreadable");
    for (uint64_t i = 0; i < count; ++i) {
      values[i] = convert(uint32_t(data[4 * i]) | uint32_t(data[4 * i + 1]) << 8 | uint32_t(data[4 * i + 2]) << 16 |
                          uint32_t(data[4 * i + 3]) << 24);
    }
  }
  return values;
}

// Planar (RRR..GGG..BBB) colour frames to interleaved (RGBRGB...).
void Interleave(std::vector<int32_t>& values, const PixelLayout& layout) {
  const size_t pixels = size_t{layout.rows} * layout.columns;
  std::vector<int32_t> frame(pixels * 3);
  for (uint64_t f = 0; f < layout.number_of_frames; ++f) {
    int32_t* base = values.data() + f * pixels * 3;
    for (size_t i = 0; i < pixels; ++i) {
      for (size_t c = 0; c < 3; ++c) frame[i * 3 + c] = base[c * pixels + i];
    }
    std::copy(frame.begin(), frame.end(), base);
  }
}

// PS3.3 C.7.6.3.1.2: full-range YCbCr to RGB.
void YbrFullToRgb(std::vector<int32_t>& values, int32_t max_value) {
  for (size_t i = 0; i + 2 < values.size(); i += 3) {
    const double y = values[i], cb = values[i + 1] - (max_value + 1) / 2.0, cr = values[i + 2] - (max_value + 1) / 2.0;
    const auto clamp = [&](double v) { return static_cast<int32_t>(std::clamp(std::lround(v), 0L, long{max_value})); };
    values[i] = clamp(y + 1.402 * cr);
    values[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    values[i + 2] = clamp(y + 1.772 * cb);
  }
}

// Tiles of a mosaic, left to right and top to bottom, become consecutive slices.
std::vector<float> SplitMosaic(const std::vector<float>& mosaic, const FileHeader& header) {
  const uint32_t tile_rows = header.SliceRows(), tile_columns = header.SliceColumns();
  const uint32_t per_row = header.pixels.columns / tile_columns;
  std::vector<float> slices;
  slices.reserve(size_t{header.mosaic_tiles} * tile_rows * tile_columns);
  for (uint32_t tile = 0; tile < header.mosaic_tiles; ++tile) {
    const size_t top = size_t{tile / per_row} * tile_rows, left = size_t{tile % per_row} * tile_columns;
    for (size_t r = 0; r < tile_rows; ++r) {
      const auto begin = mosaic.begin() + static_cast<std::ptrdiff_t>((top + r) * header.pixels.columns + left);
      slices.insert(slices.end(), begin, begin + tile_columns);
    }
  }
  return slices;
}

}  // namespace

DecodedPixels DecodePixels(const FileHeader& header) {
  RegisterCodecsOnce();
  const PixelLayout& declared = header.pixels;
  DcmFileFormat file;
  std::vector<int32_t> values;
  PixelLayout layout = declared;
  try {
    if (file.loadFile(header.path.c_str()).bad()) throw DicomError(header.path, "cannot read file for decoding");
    DcmDataset& dataset = *file.getDataset();
    const E_TransferSyntax xfer = dataset.getOriginalXfer();
    if (IsJpeg2000(xfer)) {
      values = DecodeJpeg2000(dataset, header);
    } else {
      const OFCondition status = dataset.chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
      if (status.bad()) {
        throw DicomError(header.path, std::string("cannot decode transfer syntax ") + DcmXfer(xfer).getXferName() +
                                          ": " + status.text());
      }
      // Codecs may rewrite the photometric interpretation and planar configuration.
      layout.photometric = GetString(dataset, DCM_PhotometricInterpretation, layout.photometric);
      Uint16 planar = 0;
      layout.planar_configuration = dataset.findAndGetUint16(DCM_PlanarConfiguration, planar).good() ? planar : 0;
      values = NativeValues(dataset, layout, header.path);
      if (layout.samples_per_pixel == 3 && layout.planar_configuration == 1) Interleave(values, layout);
    }
  } catch (const std::bad_alloc&) {
    throw DicomError(header.path, "decoding exhausted memory");
  }
  const uint64_t expected = uint64_t{layout.rows} * layout.columns * layout.samples_per_pixel * layout.number_of_frames;
  if (values.size() != expected) {
    throw DicomError(header.path, "decoded " + std::to_string(values.size()) + " samples, the header declares " +
                                      std::to_string(expected));
  }
  if (layout.photometric == "YBR_FULL") YbrFullToRgb(values, (1 << layout.bits_stored) - 1);

  DecodedPixels decoded;
  decoded.samples_per_pixel = layout.samples_per_pixel;
  decoded.samples.resize(values.size());
  const bool invert = layout.photometric == "MONOCHROME1";
  const int64_t invert_sum = layout.pixel_representation == 1 ? -1 : (int64_t{1} << layout.bits_stored) - 1;
  const size_t frame_samples = values.size() / layout.number_of_frames;
  for (uint64_t f = 0; f < layout.number_of_frames; ++f) {
    const FrameInfo& frame = header.frames[f];
    for (size_t i = f * frame_samples; i < (f + 1) * frame_samples; ++i) {
      const double stored = invert ? static_cast<double>(invert_sum - values[i]) : values[i];
      decoded.samples[i] = static_cast<float>(stored * frame.rescale_slope + frame.rescale_intercept);
    }
  }
  if (header.mosaic_tiles > 1) decoded.samples = SplitMosaic(decoded.samples, header);
  return decoded;
}

}  // namespace medpipe::dicom
