#pragma once
// What the header pass learns about one DICOM file, before any pixel is decoded.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medpipe::dicom {

using Vec3 = std::array<double, 3>;

// Geometry and intensity mapping of one frame (a slice). Single-frame files have one.
struct FrameInfo {
  std::optional<Vec3> position;                     // (0020,0032) ImagePositionPatient, mm LPS
  std::optional<std::array<double, 6>> orientation; // (0020,0037) row then column direction cosines
  std::optional<std::array<double, 2>> pixel_spacing; // (0028,0030) between rows, between columns, mm
  double rescale_slope = 1.0;
  double rescale_intercept = 0.0;
  // What tells repeated acquisitions of one position apart (4-D series: fMRI, diffusion, perfusion).
  std::optional<int> temporal_position;  // (0020,0100) TemporalPositionIdentifier or (0020,9128) TemporalPositionIndex
  std::optional<double> trigger_time;    // (0018,1060) TriggerTime or (0020,9153) NominalCardiacTriggerDelayTime, ms
  std::optional<double> b_value;         // (0018,9087) DiffusionBValue or a vendor's private copy, s/mm^2
  std::optional<Vec3> gradient;          // (0018,9089) DiffusionGradientOrientation, LPS; or a vendor's private copy
  bool gradient_in_voxel_frame = false;  // GRADIENT is along (row, column, slice), as GE's (0019,10BB-10BD)
  std::string private_diffusion;         // the vendor elements B_VALUE/GRADIENT came from; empty for (0018,9087)/(0018,9089)
  // Echo and complex component of this frame: per-frame (0018,9082) EffectiveEchoTime (ms) and
  // (0008,9208) ComplexImageComponent in enhanced files, else the file's EchoTime and component.
  std::optional<double> echo_time;
  std::string component;  // MAGNITUDE, PHASE, REAL, IMAGINARY, MIXED; empty when not said
  // Philips: (2005,100E) ScaleSlope (per frame in enhanced files, inside the frame's functional groups),
  // and (0040,9096) RealWorldValueMapping's slope (0040,9225) and intercept (0040,9224), as recorded.
  std::optional<double> philips_scale_slope;
  std::optional<double> real_world_slope;
  std::optional<double> real_world_intercept;
};

// Image Pixel module attributes; sizes are computed in 64 bits so no product can wrap.
struct PixelLayout {
  uint32_t rows = 0;
  uint32_t columns = 0;
  uint32_t samples_per_pixel = 1;
  uint32_t bits_allocated = 0;
  uint32_t bits_stored = 0;
  uint32_t high_bit = 0;
  uint32_t pixel_representation = 0;  // 0 unsigned, 1 two's complement
  uint32_t planar_configuration = 0;
  uint64_t number_of_frames = 1;
  std::string photometric;
  bool floating = false;  // IEEE samples: (7FE0,0008) FloatPixelData (32 bits) or (7FE0,0009) DoubleFloatPixelData (64)

  uint64_t TotalSamples() const;  // rows x columns x samples per pixel x frames
  uint64_t TotalBytes() const;    // 1-bit samples are packed across frame boundaries
};

struct FileHeader {
  std::string path;
  std::string transfer_syntax_uid;
  std::string sop_class_uid;
  std::string sop_instance_uid;
  std::string study_instance_uid;
  std::string series_instance_uid;
  std::string frame_of_reference_uid;
  std::string uid_problem;  // why DICOM objects cannot reference this image (UID missing or invalid); empty when they can
  std::string modality;
  std::string series_description;
  std::string image_type;  // values joined with '\'
  std::string manufacturer;
  std::string body_part;
  std::string patient_position;
  std::string study_date;
  int series_number = 0;
  int instance_number = 0;
  int acquisition_number = 0;
  int echo_number = 0;
  std::optional<double> echo_time;
  std::optional<double> repetition_time;  // (0018,0080) RepetitionTime, ms
  std::optional<double> philips_scale_slope;  // the first frame's Philips (2005,100E) ScaleSlope: float value = display / (RS x SS)
  double philips_rescale_slope = 1.0;  // the first frame's RescaleSlope as read (the index may rescale frames)
  std::optional<double> slice_thickness;
  double gantry_tilt_deg = 0.0;  // (0018,1120) as recorded; geometry decides whether it matters
  std::optional<std::array<double, 2>> imager_pixel_spacing;
  std::optional<double> window_center;
  std::optional<double> window_width;

  bool has_pixel_data = false;
  bool encapsulated = false;
  uint64_t pixel_data_length = 0;  // declared bytes of native PixelData (0 when encapsulated)
  PixelLayout pixels;
  bool enhanced = false;  // frames described by per-frame functional groups
  // Slices tiled into one stored frame: Siemens MOSAIC ((0019,100A) or the CSA header's
  // NumberOfImagesInMosaic) and UIH grids ((0065,1050) NumberOfImagesInGrid).
  uint32_t mosaic_tiles = 0;

  // Size of one slice: a mosaic tile, or the stored frame.
  uint32_t SliceRows() const;
  uint32_t SliceColumns() const;
  std::vector<FrameInfo> frames;
};

}  // namespace medpipe::dicom
