#include "medpipe/dicom/file_header_codec.h"

#include <cstring>
#include <type_traits>

#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

// Every field, listed once for both directions. A field added to these structs must be added here:
// the size checks below fail until it is.
static_assert(sizeof(FrameInfo) == 128 && sizeof(PixelLayout) == 72 && sizeof(FileHeader) == 712,
              "FileHeader, PixelLayout or FrameInfo changed: list the new field in file_header_codec.cpp");

template <typename Visit>
void Fields(FrameInfo& f, Visit& v) {
  v(f.position), v(f.orientation), v(f.pixel_spacing), v(f.rescale_slope), v(f.rescale_intercept);
}

template <typename Visit>
void Fields(PixelLayout& p, Visit& v) {
  v(p.rows), v(p.columns), v(p.samples_per_pixel), v(p.bits_allocated), v(p.bits_stored), v(p.high_bit);
  v(p.pixel_representation), v(p.planar_configuration), v(p.number_of_frames), v(p.photometric);
}

template <typename Visit>
void Fields(FileHeader& h, Visit& v) {
  v(h.path), v(h.transfer_syntax_uid), v(h.sop_class_uid), v(h.sop_instance_uid), v(h.study_instance_uid);
  v(h.series_instance_uid), v(h.frame_of_reference_uid), v(h.uid_problem), v(h.modality), v(h.series_description);
  v(h.image_type), v(h.manufacturer), v(h.body_part), v(h.patient_position), v(h.study_date), v(h.series_number);
  v(h.instance_number), v(h.acquisition_number), v(h.echo_number), v(h.echo_time), v(h.slice_thickness);
  v(h.gantry_tilt_deg), v(h.imager_pixel_spacing), v(h.window_center), v(h.window_width), v(h.has_pixel_data);
  v(h.encapsulated), v(h.pixel_data_length), v(h.pixels), v(h.enhanced), v(h.mosaic_tiles), v(h.frames);
}

struct Writer {
  std::string out;

  template <typename T>
  void operator()(const T& value) {
    if constexpr (std::is_arithmetic_v<T>) {
      out.append(reinterpret_cast<const char*>(&value), sizeof value);
    } else {
      Fields(const_cast<T&>(value), *this);
    }
  }
  void operator()(const std::string& text) {
    (*this)(uint64_t{text.size()});
    out += text;
  }
  template <typename T>
  void operator()(const std::optional<T>& value) {
    (*this)(value.has_value());
    if (value) (*this)(*value);
  }
  template <typename T, size_t N>
  void operator()(const std::array<T, N>& values) {
    for (const auto& value : values) (*this)(value);
  }
  template <typename T>
  void operator()(const std::vector<T>& values) {
    (*this)(uint64_t{values.size()});
    for (const auto& value : values) (*this)(value);
  }
};

struct Reader {
  std::string_view in;

  void Take(void* to, size_t bytes) {
    if (in.size() < bytes) throw DicomError("header pass", "a header came back truncated");
    std::memcpy(to, in.data(), bytes);
    in.remove_prefix(bytes);
  }
  template <typename T>
  void operator()(T& value) {
    if constexpr (std::is_arithmetic_v<T>) {
      Take(&value, sizeof value);
    } else {
      Fields(value, *this);
    }
  }
  void operator()(std::string& text) {
    uint64_t size = 0;
    (*this)(size);
    if (in.size() < size) throw DicomError("header pass", "a header came back truncated");
    text.assign(in.substr(0, size));
    in.remove_prefix(size);
  }
  template <typename T>
  void operator()(std::optional<T>& value) {
    bool present = false;
    (*this)(present);
    value.reset();
    if (present) (*this)(value.emplace());
  }
  template <typename T, size_t N>
  void operator()(std::array<T, N>& values) {
    for (auto& value : values) (*this)(value);
  }
  template <typename T>
  void operator()(std::vector<T>& values) {
    uint64_t size = 0;
    (*this)(size);
    if (size > in.size()) throw DicomError("header pass", "a header came back with an impossible frame count");
    values.resize(size);
    for (auto& value : values) (*this)(value);
  }
};

}  // namespace

std::string EncodeFileHeader(const FileHeader& header) {
  Writer writer;
  writer(header);
  return std::move(writer.out);
}

FileHeader DecodeFileHeader(std::string_view bytes) {
  Reader reader{bytes};
  FileHeader header;
  reader(header);
  if (!reader.in.empty()) throw DicomError(header.path, "a header came back with bytes to spare");
  return header;
}

}  // namespace medpipe::dicom
