#include "medpipe/dicom/pixel_decoder.h"

#include <dcmtk/dcmdata/dccodec.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dcswap.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmdata/dcxfer.h>
#include <dcmtk/dcmjpeg/djdecode.h>

#include <charls/charls.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <new>

#include "dicom_text.h"
#include "indexed_file.h"
#include "j2k_decoder.h"
#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

void RegisterCodecsOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Colour JPEG arrives as YBR; the codec converts it to RGB and updates the header to say so.
    DJDecoderRegistration::registerCodecs(EDC_photometricInterpretation);
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

bool IsJpegLs(E_TransferSyntax xfer) { return xfer == EXS_JPEGLSLossless || xfer == EXS_JPEGLSLossy; }

DcmPixelData& PixelDataOf(DcmDataset& dataset, const std::string& path) {
  DcmElement* element = nullptr;
  dataset.findAndGetElement(DCM_PixelData, element);
  auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
  if (!pixel_data) throw DicomError(path, "(7FE0,0010) PixelData is missing");
  return *pixel_data;
}

// Stored values to modality values: keep BitsStored bits above the shift, extend the sign, invert
// MONOCHROME1, apply the frame's rescale. Decoders that already return signed sample values
// (OpenJPEG) pass through unchanged: their values fit BitsStored, so masking keeps them.
class ModalityValues {
 public:
  ModalityValues(const PixelLayout& layout, bool already_aligned)
      : shift_(already_aligned ? 0 : layout.high_bit + 1 - layout.bits_stored),
        mask_(layout.bits_stored >= 32 ? 0xFFFFFFFFu : ((1u << layout.bits_stored) - 1)),
        is_signed_(layout.pixel_representation == 1 && layout.bits_stored < 32),
        sign_bit_(layout.bits_stored - 1),
        invert_(layout.photometric == "MONOCHROME1"),
        invert_sum_(layout.pixel_representation == 1 ? -1 : (int64_t{1} << layout.bits_stored) - 1) {}

  // COUNT stored values of one frame from RAW into OUT.
  template <typename Raw>
  void Convert(const Raw* raw, size_t count, const FrameInfo& frame, float* out) const {
    const double slope = frame.rescale_slope, intercept = frame.rescale_intercept;
    for (size_t i = 0; i < count; ++i) {
      uint32_t value = (static_cast<uint32_t>(raw[i]) >> shift_) & mask_;
      if (is_signed_ && (value >> sign_bit_) & 1u) value |= ~mask_;
      const double stored =
          invert_ ? static_cast<double>(invert_sum_ - static_cast<int32_t>(value)) : static_cast<int32_t>(value);
      out[i] = static_cast<float>(stored * slope + intercept);
    }
  }

 private:
  unsigned shift_;
  uint32_t mask_;
  bool is_signed_;
  unsigned sign_bit_;
  bool invert_;
  int64_t invert_sum_;
};

// IEEE samples of parametric maps: only the frame's rescale applies.
template <typename Sample>
void ConvertFloats(const Uint8* data, const FileHeader& header, size_t per_frame, float* out) {
  const auto* samples = reinterpret_cast<const Sample*>(data);
  for (size_t f = 0; f < header.frames.size(); ++f) {
    const FrameInfo& frame = header.frames[f];
    for (size_t i = f * per_frame; i < (f + 1) * per_frame; ++i)
      out[i] = static_cast<float>(samples[i] * frame.rescale_slope + frame.rescale_intercept);
  }
}

// 1-bit samples (a DICOM SEG), packed least significant bit first and across frame boundaries.
std::vector<uint8_t> UnpackBits(const Uint8* data, uint64_t count) {
  std::vector<uint8_t> samples(count);
  for (uint64_t i = 0; i < count; ++i) samples[i] = (data[i / 8] >> (i % 8)) & 1u;
  return samples;
}

// DCMTK puts big-endian values in local order by the width of their VR's words (2 bytes for OW, 1
// for OB); 32-bit samples need their whole 4 bytes reversed instead.
void RestoreBigEndianWords(DcmElement& element, Uint8* data, const PixelLayout& layout) {
  const size_t vr_width = DcmVR(element.getVR()).getValueWidth();
  if (vr_width == 4) return;
  if (vr_width > 1) swapBytes(data, static_cast<Uint32>(layout.TotalBytes()), vr_width);
  swapBytes(data, static_cast<Uint32>(layout.TotalBytes()), 4);
}

// The element's samples in local byte order; DCMTK hands out float elements only as typed arrays.
Uint8* SampleBytes(DcmElement& element, const PixelLayout& layout) {
  Uint8* bytes = nullptr;
  Float32* floats = nullptr;
  Float64* doubles = nullptr;
  if (!layout.floating) return element.getUint8Array(bytes).good() ? bytes : nullptr;
  if (layout.bits_allocated == 64) return element.getFloat64Array(doubles).good() ? reinterpret_cast<Uint8*>(doubles) : nullptr;
  return element.getFloat32Array(floats).good() ? reinterpret_cast<Uint8*>(floats) : nullptr;
}

// Native little-endian pixel bytes (as read, or as a DCMTK codec left them) to modality values.
// ORIGINAL is the file's transfer syntax.
void ConvertNative(DcmDataset& dataset, const FileHeader& header, const PixelLayout& layout, E_TransferSyntax original,
                   float* out) {
  const DcmTagKey tag = PixelDataTag(layout);
  const std::string name = DcmTag(tag).getTagName();
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(tag, element).bad() || !element) throw DicomError(header.path, name + " is missing");
  if (element->getLength() < layout.TotalBytes()) {
    throw DicomError(header.path, "decoded " + name + " has " + std::to_string(element->getLength()) +
                                      " bytes, the header needs " + std::to_string(layout.TotalBytes()));
  }
  Uint8* data = SampleBytes(*element, layout);
  if (!data) throw DicomError(header.path, name + " is unreadable");
  if (layout.bits_allocated == 32 && !layout.floating && DcmXfer(original).isBigEndian())
    RestoreBigEndianWords(*element, data, layout);
  const size_t per_frame = size_t{layout.rows} * layout.columns * layout.samples_per_pixel;
  if (layout.floating) {
    return layout.bits_allocated == 64 ? ConvertFloats<Float64>(data, header, per_frame, out)
                                       : ConvertFloats<Float32>(data, header, per_frame, out);
  }
  const std::vector<uint8_t> bits = layout.bits_allocated == 1 ? UnpackBits(data, layout.TotalSamples()) : std::vector<uint8_t>();
  const ModalityValues values(layout, false);
  for (uint64_t f = 0; f < layout.number_of_frames; ++f) {
    const size_t first = f * per_frame;
    if (layout.bits_allocated == 1) {
      values.Convert(bits.data() + first, per_frame, header.frames[f], out + first);
    } else if (layout.bits_allocated == 8) {
      values.Convert(data + first, per_frame, header.frames[f], out + first);
    } else if (layout.bits_allocated == 16) {
      values.Convert(reinterpret_cast<const uint16_t*>(data) + first, per_frame, header.frames[f], out + first);
    } else {
      values.Convert(reinterpret_cast<const uint32_t*>(data) + first, per_frame, header.frames[f], out + first);
    }
  }
}

// JPEG 2000 frames through OpenJPEG; its samples come interleaved and sign-extended.
void DecodeJpeg2000(DcmDataset& dataset, const FileHeader& header, float* out) {
  const size_t per_frame = size_t{header.pixels.rows} * header.pixels.columns * header.pixels.samples_per_pixel;
  const ModalityValues values(header.pixels, true);
  const auto frames = EncapsulatedFrames(PixelDataOf(dataset, header.path), dataset.getOriginalXfer(),
                                         header.pixels.number_of_frames, header.path);
  for (size_t f = 0; f < frames.size(); ++f) {
    const auto decoded = DecodeJ2kFrame(frames[f].data(), frames[f].size(), header.pixels, header.path);
    values.Convert(decoded.data(), per_frame, header.frames[f], out + f * per_frame);
  }
}

// JPEG-LS frames through CharLS, several times faster than DCMTK's older copy of it. CharLS gives
// samples of the coded precision as 8- or 16-bit words, planar when the stream is not interleaved.
void DecodeJpegLs(DcmDataset& dataset, const FileHeader& header, PixelLayout& layout, float* out) {
  const size_t per_frame = size_t{layout.rows} * layout.columns * layout.samples_per_pixel;
  const ModalityValues values(layout, false);
  const auto frames = EncapsulatedFrames(PixelDataOf(dataset, header.path), dataset.getOriginalXfer(),
                                         layout.number_of_frames, header.path);
  std::vector<uint8_t> decoded;
  for (size_t f = 0; f < frames.size(); ++f) {
    try {
      charls::jpegls_decoder decoder(frames[f].data(), frames[f].size());
      const charls::frame_info& info = decoder.frame_info();
      if (info.width != layout.columns || info.height != layout.rows ||
          static_cast<uint32_t>(info.component_count) != layout.samples_per_pixel ||
          (info.bits_per_sample > 8) != (layout.bits_allocated > 8)) {
        throw DicomError(header.path, "JPEG-LS frame is " + std::to_string(info.width) + " x " +
                                          std::to_string(info.height) + " x " + std::to_string(info.component_count) +
                                          " at " + std::to_string(info.bits_per_sample) + " bits, the header declares " +
                                          std::to_string(layout.columns) + " x " + std::to_string(layout.rows) + " x " +
                                          std::to_string(layout.samples_per_pixel) + " at " +
                                          std::to_string(layout.bits_allocated) + " bits allocated");
      }
      decoded.resize(decoder.destination_size());
      decoder.decode(decoded.data(), decoded.size());
      layout.planar_configuration = decoder.interleave_mode() == charls::interleave_mode::none ? 1 : 0;
    } catch (const charls::jpegls_error& error) {
      throw DicomError(header.path, "JPEG-LS frame " + std::to_string(f) + " is corrupt: " + error.what());
    }
    float* to = out + f * per_frame;
    if (layout.bits_allocated > 8) {
      values.Convert(reinterpret_cast<const uint16_t*>(decoded.data()), per_frame, header.frames[f], to);
    } else {
      values.Convert(decoded.data(), per_frame, header.frames[f], to);
    }
  }
}

// Planar (RRR..GGG..BBB) colour frames to interleaved (RGBRGB...).
void Interleave(float* values, const PixelLayout& layout) {
  const size_t pixels = size_t{layout.rows} * layout.columns;
  std::vector<float> frame(pixels * 3);
  for (uint64_t f = 0; f < layout.number_of_frames; ++f) {
    float* base = values + f * pixels * 3;
    for (size_t i = 0; i < pixels; ++i) {
      for (size_t c = 0; c < 3; ++c) frame[i * 3 + c] = base[c * pixels + i];
    }
    std::copy(frame.begin(), frame.end(), base);
  }
}

// PS3.3 C.7.6.3.1.2: full-range YCbCr to RGB (colour images carry no rescale).
void YbrFullToRgb(float* values, size_t count, float max_value) {
  const auto clamp = [&](double v) { return std::clamp(std::round(static_cast<float>(v)), 0.0F, max_value); };
  for (size_t i = 0; i + 2 < count; i += 3) {
    const double y = values[i], cb = values[i + 1] - (max_value + 1) / 2.0, cr = values[i + 2] - (max_value + 1) / 2.0;
    values[i] = clamp(y + 1.402 * cr);
    values[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    values[i + 2] = clamp(y + 1.772 * cb);
  }
}

// Tiles of a mosaic, left to right and top to bottom, become consecutive slices.
void SplitMosaic(const std::vector<float>& mosaic, const FileHeader& header, float* out) {
  const uint32_t tile_rows = header.SliceRows(), tile_columns = header.SliceColumns();
  const uint32_t per_row = header.pixels.columns / tile_columns;
  for (uint32_t tile = 0; tile < header.mosaic_tiles; ++tile) {
    const size_t top = size_t{tile / per_row} * tile_rows, left = size_t{tile % per_row} * tile_columns;
    for (size_t r = 0; r < tile_rows; ++r) {
      const auto begin = mosaic.begin() + static_cast<std::ptrdiff_t>((top + r) * header.pixels.columns + left);
      out = std::copy(begin, begin + tile_columns, out);
    }
  }
}

// The stored frames of HEADER's file, decoded into OUT (room for all of them).
void DecodeStoredFrames(const FileHeader& header, float* out) {
  DcmFileFormat file;
  PixelLayout layout = header.pixels;
  LoadIndexedFile(file, header.path, "pixel data");
  DcmDataset& dataset = *file.getDataset();
  const E_TransferSyntax xfer = dataset.getOriginalXfer();
  if (IsJpeg2000(xfer)) {
    DecodeJpeg2000(dataset, header, out);
  } else if (IsJpegLs(xfer)) {
    DecodeJpegLs(dataset, header, layout, out);
  } else {
    const OFCondition status = dataset.chooseRepresentation(EXS_LittleEndianExplicit, nullptr);
    if (status.bad()) {
      throw DicomError(header.path, std::string("cannot decode transfer syntax ") + DcmXfer(xfer).getXferName() + ": " +
                                        status.text());
    }
    // Codecs may rewrite the photometric interpretation and planar configuration.
    layout.photometric = GetString(dataset, DCM_PhotometricInterpretation, layout.photometric);
    Uint16 planar = 0;
    layout.planar_configuration = dataset.findAndGetUint16(DCM_PlanarConfiguration, planar).good() ? planar : 0;
    ConvertNative(dataset, header, layout, xfer, out);
  }
  if (layout.samples_per_pixel == 3 && layout.planar_configuration == 1) Interleave(out, layout);
  if (layout.photometric == "YBR_FULL") {
    // In 64 bits: BitsStored may be 32 (found by review while triaging fuzz_decode).
    YbrFullToRgb(out, size_t{layout.rows} * layout.columns * 3 * layout.number_of_frames,
                 static_cast<float>((uint64_t{1} << layout.bits_stored) - 1));
  }
}

}  // namespace

const std::vector<std::string>& ReadableTransferSyntaxes() {
  static const std::vector<std::string> syntaxes = {
      UID_JPEGLSLosslessTransferSyntax, UID_JPEG2000LosslessOnlyTransferSyntax, UID_JPEGProcess14SV1TransferSyntax,
      UID_JPEGProcess14TransferSyntax, UID_RLELosslessTransferSyntax, UID_DeflatedExplicitVRLittleEndianTransferSyntax,
      UID_LittleEndianExplicitTransferSyntax, UID_LittleEndianImplicitTransferSyntax, UID_BigEndianExplicitTransferSyntax,
      UID_JPEGLSLossyTransferSyntax, UID_JPEG2000TransferSyntax, UID_JPEGProcess1TransferSyntax,
      UID_JPEGProcess2_4TransferSyntax};
  return syntaxes;
}

uint64_t DecodedSamples(const FileHeader& header) {
  return uint64_t{header.SliceRows()} * header.SliceColumns() * header.pixels.samples_per_pixel * header.frames.size();
}

void DecodePixels(const FileHeader& header, float* out) {
  RegisterCodecsOnce();
  try {
    if (header.mosaic_tiles > 1) {
      std::vector<float> mosaic(header.pixels.TotalSamples());
      DecodeStoredFrames(header, mosaic.data());
      SplitMosaic(mosaic, header, out);
    } else {
      DecodeStoredFrames(header, out);
    }
  } catch (const std::bad_alloc&) {
    throw DicomError(header.path, "decoding exhausted memory");
  }
}

}  // namespace medpipe::dicom
