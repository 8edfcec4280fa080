#include "medpipe/dicom/file_header_codec.h"

#include <cstring>
#include <type_traits>

#include "medpipe/core/error.h"

namespace medpipe::dicom {
namespace {

// Every field, listed once for both directions. The structured bindings must name every member, so
// a field added to one of these structs stops the build here until it is listed (whatever the
// standard library's layout).
template <typename Visit>
void Fields(FrameInfo& f, Visit& v) {
  auto& [position, orientation, pixel_spacing, rescale_slope, rescale_intercept, temporal_position, trigger_time,
         b_value, gradient, gradient_in_voxel_frame, private_diffusion, echo_time, component, philips_scale_slope,
         real_world_slope, real_world_intercept] = f;
  v(position), v(orientation), v(pixel_spacing), v(rescale_slope), v(rescale_intercept);
  v(temporal_position), v(trigger_time), v(b_value), v(gradient), v(gradient_in_voxel_frame), v(private_diffusion);
  v(echo_time), v(component), v(philips_scale_slope), v(real_world_slope), v(real_world_intercept);
}

template <typename Visit>
void Fields(PixelLayout& p, Visit& v) {
  auto& [rows, columns, samples_per_pixel, bits_allocated, bits_stored, high_bit, pixel_representation,
         planar_configuration, number_of_frames, photometric, floating] = p;
  v(rows), v(columns), v(samples_per_pixel), v(bits_allocated), v(bits_stored), v(high_bit);
  v(pixel_representation), v(planar_configuration), v(number_of_frames), v(photometric), v(floating);
}

template <typename Visit>
void Fields(FileHeader& h, Visit& v) {
  auto& [path, transfer_syntax_uid, sop_class_uid, sop_instance_uid, study_instance_uid, series_instance_uid,
         frame_of_reference_uid, uid_problem, modality, series_description, image_type, manufacturer, body_part,
         patient_position, study_date, series_number, instance_number, acquisition_number, echo_number, echo_time,
         repetition_time, philips_scale_slope, philips_rescale_slope, slice_thickness, gantry_tilt_deg, imager_pixel_spacing, window_center, window_width, has_pixel_data,
         encapsulated, pixel_data_length, pixels, enhanced, mosaic_tiles, frames] = h;
  v(path), v(transfer_syntax_uid), v(sop_class_uid), v(sop_instance_uid), v(study_instance_uid);
  v(series_instance_uid), v(frame_of_reference_uid), v(uid_problem), v(modality), v(series_description);
  v(image_type), v(manufacturer), v(body_part), v(patient_position), v(study_date), v(series_number);
  v(instance_number), v(acquisition_number), v(echo_number), v(echo_time), v(repetition_time), v(philips_scale_slope), v(philips_rescale_slope), v(slice_thickness);
  v(gantry_tilt_deg), v(imager_pixel_spacing), v(window_center), v(window_width), v(has_pixel_data);
  v(encapsulated), v(pixel_data_length), v(pixels), v(enhanced), v(mosaic_tiles), v(frames);
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
