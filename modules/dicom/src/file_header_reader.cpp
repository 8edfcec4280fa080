#include "medpipe/dicom/file_header_reader.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcpixel.h>
#include <dcmtk/dcmdata/dcxfer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>

#include "dicom_text.h"
#include "medpipe/dicom/csa_header.h"
#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/dicom/slice_stack.h"
#include "raw_checks.h"

namespace medpipe::dicom {
namespace {

// Values longer than this stay on disk during the header pass, so PixelData is never read here.
constexpr Uint32 kMaxHeaderValueBytes = 4096;
// What a deflated file may inflate to besides its largest accepted image: the other elements.
constexpr uint64_t kMaxHeaderBytes = uint64_t{64} << 20;

std::optional<double> GetDouble(DcmItem& item, const DcmTagKey& tag, unsigned long pos = 0) {
  Float64 value = 0;
  if (item.findAndGetFloat64(tag, value, pos).good()) return value;
  return std::nullopt;
}

int GetInt(DcmItem& item, const DcmTagKey& tag) {
  Sint32 value = 0;
  if (item.findAndGetSint32(tag, value).good()) return value;
  return 0;
}

uint32_t GetUint16(DcmItem& item, const DcmTagKey& tag, uint32_t fallback) {
  Uint16 value = 0;
  if (item.findAndGetUint16(tag, value).good()) return value;
  return fallback;
}

// Every value of TAG, in order; empty when absent.
std::vector<double> GetDoubleList(DcmItem& item, const DcmTagKey& tag) {
  std::vector<double> values;
  while (auto value = GetDouble(item, tag, values.size())) values.push_back(*value);
  return values;
}

template <size_t N>
std::optional<std::array<double, N>> GetDoubles(DcmItem& item, const DcmTagKey& tag) {
  std::array<double, N> values{};
  for (size_t i = 0; i < N; ++i) {
    auto value = GetDouble(item, tag, i);
    if (!value) return std::nullopt;
    values[i] = *value;
  }
  return values;
}

DcmItem* SequenceItem(DcmItem* item, const DcmTagKey& tag) {
  DcmItem* found = nullptr;
  if (item && item->findAndGetSequenceItem(tag, found, 0).good()) return found;
  return nullptr;
}

// Applies the frame attributes that one item (a dataset or a functional group) carries.
void ReadFrameAttributes(DcmItem& item, FrameInfo& frame) {
  if (auto position = GetDoubles<3>(item, DCM_ImagePositionPatient)) frame.position = position;
  if (auto orientation = GetDoubles<6>(item, DCM_ImageOrientationPatient)) frame.orientation = orientation;
  if (auto spacing = GetDoubles<2>(item, DCM_PixelSpacing)) frame.pixel_spacing = spacing;
  if (auto slope = GetDouble(item, DCM_RescaleSlope)) frame.rescale_slope = *slope;
  if (auto intercept = GetDouble(item, DCM_RescaleIntercept)) frame.rescale_intercept = *intercept;
  if (Sint32 value = 0; item.findAndGetSint32(DCM_TemporalPositionIdentifier, value).good()) frame.temporal_position = value;
  if (Uint32 value = 0; item.findAndGetUint32(DCM_TemporalPositionIndex, value).good()) frame.temporal_position = int(value);
  if (auto time = GetDouble(item, DCM_TriggerTime)) frame.trigger_time = time;
  if (auto time = GetDouble(item, DCM_NominalCardiacTriggerDelayTime)) frame.trigger_time = time;
  if (auto b_value = GetDouble(item, DCM_DiffusionBValue)) {
    frame.b_value = b_value;
    frame.private_diffusion.clear();
    frame.gradient_in_voxel_frame = false;
  }
  if (auto gradient = GetDoubles<3>(item, DCM_DiffusionGradientOrientation)) frame.gradient = gradient;
  if (auto echo = GetDouble(item, DCM_EffectiveEchoTime)) frame.echo_time = echo;
  if (const std::string component = GetString(item, DCM_ComplexImageComponent); !component.empty()) frame.component = component;
  if (auto slope = GetDouble(item, DCM_RealWorldValueSlope)) frame.real_world_slope = slope;
  if (auto intercept = GetDouble(item, DCM_RealWorldValueIntercept)) frame.real_world_intercept = intercept;
  if (DcmItem* direction = SequenceItem(&item, DCM_DiffusionGradientDirectionSequence)) ReadFrameAttributes(*direction, frame);
  if (DcmItem* mapping = SequenceItem(&item, DCM_RealWorldValueMappingSequence)) ReadFrameAttributes(*mapping, frame);
}

// Functional groups of the enhanced multi-frame IODs: each macro sits in its own sequence.
void ReadFunctionalGroup(DcmItem* group, FrameInfo& frame) {
  if (!group) return;
  for (const auto& tag : {DCM_PlanePositionSequence, DCM_PlaneOrientationSequence, DCM_PixelMeasuresSequence,
                          DCM_PixelValueTransformationSequence, DCM_FrameContentSequence, DCM_MRDiffusionSequence,
                          DCM_CardiacSynchronizationSequence, DCM_MREchoSequence, DCM_MRImageFrameTypeSequence,
                          DCM_RealWorldValueMappingSequence}) {
    if (DcmItem* macro = SequenceItem(group, tag)) ReadFrameAttributes(*macro, frame);
  }
}

Vec3 NormalOf(const std::array<double, 6>& orientation) {
  return Cross({orientation[0], orientation[1], orientation[2]}, {orientation[3], orientation[4], orientation[5]});
}

// The text of a private element, whether its VR is known (DS) or not (UN: the bytes are the text).
std::string PrivateText(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (item.findAndGetElement(tag, element).bad() || !element) return "";
  char* text = nullptr;
  if (element->getString(text).good() && text) return text;
  Uint8* bytes = nullptr;
  if (element->getUint8Array(bytes).bad() || !bytes) return "";
  return std::string(reinterpret_cast<const char*>(bytes), element->getLength());
}

// Leading numbers of a private text value ("1000\\8\\0\\0"); empty when it holds none.
std::vector<double> PrivateNumbers(DcmItem& item, const DcmTagKey& tag) {
  std::vector<double> numbers;
  std::string text = PrivateText(item, tag);
  std::replace(text.begin(), text.end(), '\\', ' ');
  std::istringstream in(text);
  for (double value = 0; in >> value;) numbers.push_back(value);
  return numbers;
}

// A private FL value (raw bytes when read as UN or implicit without the dictionary, text when a tool
// rewrote it as DS); none when absent or not finite.
std::optional<double> PrivateFloat(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* element = nullptr;
  if (item.findAndGetElement(tag, element).bad() || !element) return std::nullopt;
  Float32 value = 0;
  Uint8* bytes = nullptr;
  if (element->getFloat32(value).bad()) {
    if (element->getLength() == 4 && element->getUint8Array(bytes).good() && bytes) {
      std::memcpy(&value, bytes, 4);
    } else {
      const auto numbers = PrivateNumbers(item, tag);
      if (numbers.empty()) return std::nullopt;
      value = static_cast<Float32>(numbers.front());
    }
  }
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

// Philips' private per-frame sequence (2005,140F), which enhanced files nest in each frame's group.
const DcmTagKey kPhilipsPrivateFrameSequence(0x2005, 0x140F);

// Philips' private elements of one item (a classic dataset, an enhanced file's top level or one frame's
// functional group, each also through (2005,140F)), read as dcm2niix reads them: (2005,100E) ScaleSlope,
// and where no (0018,9087) gave the b-value, (2001,1003) DiffusionBFactor with (2005,10B0-10B2)
// DiffusionDirection RL, AP, FH as the LPS gradient (the frame of (0018,9089)), zero for b = 0.
void ReadPhilipsPrivate(DcmItem* item, FrameInfo& frame) {
  if (!item) return;
  for (DcmItem* at : {item, SequenceItem(item, kPhilipsPrivateFrameSequence)}) {
    if (!at) continue;
    if (auto slope = PrivateFloat(*at, DcmTagKey(0x2005, 0x100E)); slope && *slope > 0) frame.philips_scale_slope = slope;
    const bool standard = frame.b_value && frame.private_diffusion.empty();
    const auto b_value = PrivateFloat(*at, DcmTagKey(0x2001, 0x1003));
    if (standard || !b_value) continue;
    Vec3 gradient{};
    for (int k = 0; k < 3; ++k) gradient[k] = PrivateFloat(*at, DcmTagKey(0x2005, Uint16(0x10B0 + k))).value_or(0.0);
    frame.b_value = b_value;
    frame.gradient = *b_value > 0 ? gradient : Vec3{};
    frame.gradient_in_voxel_frame = false;
    frame.private_diffusion = "Philips (2001,1003), (2005,10B0-10B2)";
  }
}

// RT dose grids: (3004,000C) GridFrameOffsetVector places each frame along the normal from the first
// (relative offsets, or absolute z whose first value is the first frame's).
bool PlaceDoseFrames(DcmDataset& dataset, FileHeader& header) {
  const std::vector<double> offsets = GetDoubleList(dataset, DCM_GridFrameOffsetVector);
  const FrameInfo& first = header.frames.front();
  if (offsets.size() != header.frames.size() || !first.position || !first.orientation) return false;
  const Vec3 normal = NormalOf(*first.orientation);
  for (size_t i = 0; i < offsets.size(); ++i) {
    Vec3 position = *first.position;
    for (int k = 0; k < 3; ++k) position[k] += (offsets[i] - offsets[0]) * normal[k];
    header.frames[i].position = position;
  }
  return true;
}

void ReadFrames(DcmDataset& dataset, FileHeader& header) {
  const bool philips = Lower(header.manufacturer).find("philips") != std::string::npos;
  FrameInfo common;
  ReadFrameAttributes(dataset, common);
  if (philips) ReadPhilipsPrivate(&dataset, common);
  // RT dose has no rescale; its stored values times (3004,000E) DoseGridScaling are Gy.
  if (auto scaling = GetDouble(dataset, DCM_DoseGridScaling)) common.rescale_slope *= *scaling;
  DcmSequenceOfItems* per_frame = nullptr;
  if (dataset.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame).good() && per_frame) {
    header.enhanced = true;
    DcmItem* shared = SequenceItem(&dataset, DCM_SharedFunctionalGroupsSequence);
    ReadFunctionalGroup(shared, common);
    if (philips) ReadPhilipsPrivate(shared, common);
    if (per_frame->card() != header.pixels.number_of_frames) {
      throw DicomError(header.path, "PerFrameFunctionalGroupsSequence has " + std::to_string(per_frame->card()) +
                                        " items but NumberOfFrames is " +
                                        std::to_string(header.pixels.number_of_frames));
    }
    for (unsigned long i = 0; i < per_frame->card(); ++i) {
      FrameInfo frame = common;
      ReadFunctionalGroup(per_frame->getItem(i), frame);
      if (philips) ReadPhilipsPrivate(per_frame->getItem(i), frame);
      header.frames.push_back(frame);
    }
    return;
  }
  header.frames.assign(header.pixels.number_of_frames, common);
  if (header.frames.size() < 2 || PlaceDoseFrames(dataset, header)) return;
  // Other legacy multi-frame stacks (no functional groups) keep one position for the first frame only.
  for (size_t i = 1; i < header.frames.size(); ++i) header.frames[i].position.reset();
}

// Siemens private (0019,100A) NumberOfImagesInMosaic; implicit-VR files carry it as raw bytes.
uint32_t MosaicTilesElement(DcmDataset& dataset) {
  DcmElement* element = nullptr;
  if (dataset.findAndGetElement(DcmTagKey(0x0019, 0x100A), element).bad() || !element) return 0;
  Uint16 value = 0;
  if (element->getUint16(value).good()) return value;
  Uint8* bytes = nullptr;
  if (element->getLength() >= 2 && element->getUint8Array(bytes).good() && bytes) return bytes[0] | (bytes[1] << 8);
  return 0;
}

// Classic files whose b-value and gradient only vendors' private elements carry: GE (0043,1039)
// (b-value plus 10^9 times a flag in its first value) with (0019,10BB-10BD) along row, column and
// slice; Siemens (0019,100C) B_value with (0019,100E) DiffusionGradientDirection in LPS.
void ReadVendorDiffusion(DcmDataset& dataset, FileHeader& header) {
  FrameInfo& frame = header.frames.front();
  if (frame.b_value || header.enhanced) return;
  const std::string maker = Lower(header.manufacturer);
  if (maker.find("ge ") != std::string::npos || maker.rfind("ge", 0) == 0) {
    const auto b_value = PrivateNumbers(dataset, DcmTagKey(0x0043, 0x1039));
    // Anonymisers often drop the private creator (0043,0010); another creator's block means another meaning.
    const std::string creator = GetString(dataset, DcmTagKey(0x0043, 0x0010));
    if (b_value.empty() || (!creator.empty() && creator.find("GEMS") == std::string::npos)) return;
    frame.b_value = std::fmod(b_value.front(), 1e9);
    Vec3 gradient{};
    for (int k = 0; k < 3; ++k) {
      const auto value = PrivateNumbers(dataset, DcmTagKey(0x0019, Uint16(0x10BB + k)));
      if (value.empty()) return;
      gradient[k] = value.front();
    }
    frame.gradient = gradient;
    frame.gradient_in_voxel_frame = true;
    frame.private_diffusion = "GE (0043,1039), (0019,10BB-10BD)";
  } else if (maker.find("siemens") != std::string::npos) {
    const auto b_value = PrivateNumbers(dataset, DcmTagKey(0x0019, 0x100C));
    if (b_value.empty()) return;
    frame.b_value = b_value.front();
    frame.private_diffusion = "Siemens (0019,100C), (0019,100E)";
    DcmElement* element = nullptr;
    Vec3 gradient{};
    if (dataset.findAndGetElement(DcmTagKey(0x0019, 0x100E), element).good() && element) {
      Float64* values = nullptr;
      Uint8* bytes = nullptr;
      if (element->getFloat64Array(values).good() && values && element->getVM() == 3) {
        std::copy_n(values, 3, gradient.begin());
        frame.gradient = gradient;
      } else if (element->getLength() == 24 && element->getUint8Array(bytes).good() && bytes) {
        std::memcpy(gradient.data(), bytes, 24);
        frame.gradient = gradient;
      }
    }
  }
}

// The complex component of a classic file: (0008,9208), else ImageType's third or fourth value
// (Siemens M/P, Philips M/P/R/I), else GE's private (0043,102F) (0 magnitude, 1 phase, 2 real, 3 imaginary).
std::string ClassicComponent(DcmDataset& dataset, const FileHeader& header) {
  if (std::string component = GetString(dataset, DCM_ComplexImageComponent); !component.empty()) return component;
  std::vector<std::string> values;
  std::istringstream in(header.image_type);
  for (std::string value; std::getline(in, value, '\\');) values.push_back(value);
  for (size_t i = 2; i < std::min<size_t>(values.size(), 4); ++i) {
    const std::string& v = values[i];
    if (v == "M" || v == "MAGNITUDE") return "MAGNITUDE";
    if (v == "P" || v == "PHASE") return "PHASE";
    if (v == "R" || v == "REAL") return "REAL";
    if (v == "I" || v == "IMAGINARY") return "IMAGINARY";
  }
  if (Lower(header.manufacturer).rfind("ge", 0) == 0) {
    const auto ge = PrivateNumbers(dataset, DcmTagKey(0x0043, 0x102F));
    if (!ge.empty() && ge.front() >= 0 && ge.front() <= 3)
      return std::array<const char*, 4>{"MAGNITUDE", "PHASE", "REAL", "IMAGINARY"}[static_cast<size_t>(ge.front())];
  }
  return "";
}

// The CSA image header: element 0x10 of the private block that "SIEMENS CSA HEADER" reserves in group 0029.
CsaHeader CsaImageHeader(DcmDataset& dataset, const std::string& path) {
  for (Uint16 block = 0x10; block <= 0xFF; ++block) {
    if (GetString(dataset, DcmTagKey(0x0029, block)) != "SIEMENS CSA HEADER") continue;
    DcmElement* element = nullptr;
    Uint8* bytes = nullptr;
    if (dataset.findAndGetElement(DcmTagKey(0x0029, Uint16(block << 8 | 0x10)), element).bad() || !element ||
        element->getUint8Array(bytes).bad() || !bytes)
      return {};
    return ParseCsaHeader(bytes, element->getLength(), path);
  }
  return {};
}

// One frame per tile: the stored position is the mosaic's corner, so move it to the first tile's
// corner and step each tile along NORMAL by SpacingBetweenSlices.
void ExpandMosaic(DcmDataset& dataset, FileHeader& header, const std::optional<Vec3>& slice_normal) {
  const FrameInfo mosaic = header.frames.front();
  if (!mosaic.position || !mosaic.orientation || !mosaic.pixel_spacing) {
    throw DicomError(header.path, "MOSAIC image lacks position, orientation or pixel spacing");
  }
  // A tile of no pixels made SplitMosaic divide by zero (found by review while triaging fuzz_decode);
  // SplitMosaic copies one sample per pixel, and mosaics are grey.
  if (header.SliceRows() == 0 || header.SliceColumns() == 0 || header.pixels.samples_per_pixel != 1) {
    throw DicomError(header.path, "a mosaic of " + std::to_string(header.mosaic_tiles) +
                                      " tiles does not fit a grey image of " + std::to_string(header.pixels.columns) +
                                      " x " + std::to_string(header.pixels.rows) + " x " +
                                      std::to_string(header.pixels.samples_per_pixel) + " samples");
  }
  const auto& o = *mosaic.orientation;
  const Vec3 row{o[0], o[1], o[2]}, column{o[3], o[4], o[5]};
  const Vec3 normal = slice_normal.value_or(NormalOf(o));
  const double gap = GetDouble(dataset, DCM_SpacingBetweenSlices).value_or(header.slice_thickness.value_or(1.0));
  const double shift_x = (header.pixels.columns - header.SliceColumns()) / 2.0 * (*mosaic.pixel_spacing)[1];
  const double shift_y = (header.pixels.rows - header.SliceRows()) / 2.0 * (*mosaic.pixel_spacing)[0];
  header.frames.clear();
  for (uint32_t tile = 0; tile < header.mosaic_tiles; ++tile) {
    FrameInfo frame = mosaic;
    Vec3 position = *mosaic.position;
    for (int k = 0; k < 3; ++k) position[k] += shift_x * row[k] + shift_y * column[k] + tile * gap * normal[k];
    frame.position = position;
    header.frames.push_back(frame);
  }
}

// Siemens mosaics: the tile count from (0019,100A) or else the CSA header, and the slice direction from
// the CSA header's SliceNormalVector, which points against row x column in sagittal and some axial
// acquisitions (the tiles then run that way).
void ReadSiemensMosaic(DcmDataset& dataset, FileHeader& header) {
  const CsaHeader csa = CsaImageHeader(dataset, header.path);
  header.mosaic_tiles = MosaicTilesElement(dataset);
  if (header.mosaic_tiles == 0) {
    const auto tiles = CsaNumbers(csa, "NumberOfImagesInMosaic", header.path);
    if (!tiles.empty() && tiles[0] >= 1 && tiles[0] <= 65535) header.mosaic_tiles = static_cast<uint32_t>(tiles[0]);
  }
  if (header.mosaic_tiles == 0) {
    throw DicomError(header.path, "(0008,0008) ImageType says MOSAIC but neither (0019,100A) NumberOfImagesInMosaic "
                                  "nor the CSA header gives the number of tiles: refused rather than read as one "
                                  "tiled image");
  }
  if (header.mosaic_tiles < 2) return;
  const auto normal = CsaNumbers(csa, "SliceNormalVector", header.path);
  ExpandMosaic(dataset, header, normal.size() == 3 ? std::optional<Vec3>({normal[0], normal[1], normal[2]}) : std::nullopt);
}

// UIH grids: (0065,1050) NumberOfImagesInGrid tiles, stacked along row x column as dcm2niix does.
void ReadUihMosaic(DcmDataset& dataset, FileHeader& header) {
  const std::string tiles = PrivateText(dataset, DcmTagKey(0x0065, 0x1050));
  if (tiles.empty()) return;
  try {
    const double count = std::stod(tiles);
    if (count < 2 || count > 65535) return;
    header.mosaic_tiles = static_cast<uint32_t>(count);
  } catch (const std::logic_error&) {
    throw DicomError(header.path, "(0065,1050) NumberOfImagesInGrid '" + tiles + "' is not a number");
  }
  ExpandMosaic(dataset, header, std::nullopt);
}

void ReadPixelLayout(DcmDataset& dataset, FileHeader& header) {
  PixelLayout& px = header.pixels;
  px.rows = GetUint16(dataset, DCM_Rows, 0);
  px.columns = GetUint16(dataset, DCM_Columns, 0);
  px.samples_per_pixel = GetUint16(dataset, DCM_SamplesPerPixel, 1);
  px.bits_allocated = GetUint16(dataset, DCM_BitsAllocated, 0);
  px.bits_stored = GetUint16(dataset, DCM_BitsStored, px.bits_allocated);
  px.high_bit = GetUint16(dataset, DCM_HighBit, px.bits_stored ? px.bits_stored - 1 : 0);
  px.pixel_representation = GetUint16(dataset, DCM_PixelRepresentation, 0);
  px.planar_configuration = GetUint16(dataset, DCM_PlanarConfiguration, 0);
  px.photometric = GetString(dataset, DCM_PhotometricInterpretation);
  const std::string frames = GetString(dataset, DCM_NumberOfFrames);
  if (!frames.empty()) {
    try {
      const long long count = std::stoll(frames);
      if (count < 1) throw DicomError(header.path, "(0028,0008) NumberOfFrames is " + frames + ", must be at least 1");
      px.number_of_frames = static_cast<uint64_t>(count);
    } catch (const std::logic_error&) {
      throw DicomError(header.path, "(0028,0008) NumberOfFrames '" + frames + "' is not a number");
    }
  }

  DcmElement* element = nullptr;
  for (const DcmTagKey& tag : {DCM_PixelData, DCM_FloatPixelData, DCM_DoubleFloatPixelData}) {
    if (dataset.findAndGetElement(tag, element).bad() || !element) continue;
    px.floating = tag != DCM_PixelData;
    const uint32_t float_bits = tag == DCM_FloatPixelData ? 32 : 64;
    if (px.floating && px.bits_allocated != float_bits) {
      throw DicomError(header.path, std::string(tag == DCM_FloatPixelData ? "(7FE0,0008) FloatPixelData" : "(7FE0,0009) DoubleFloatPixelData") +
                                        " needs (0028,0100) BitsAllocated " + std::to_string(float_bits) + ", not " +
                                        std::to_string(px.bits_allocated));
    }
    break;
  }
  if (element) {
    header.has_pixel_data = true;
    auto* pixel_data = dynamic_cast<DcmPixelData*>(element);
    header.encapsulated = DcmXfer(dataset.getOriginalXfer()).isEncapsulated() ||
                          (pixel_data && element->getLength() == DCM_UndefinedLength);
    if (!header.encapsulated) header.pixel_data_length = element->getLength();
  }
}

// FILE_SIZE bounds the pixel bytes only when they are stored as is (not in a deflated stream).
void ValidatePixelLayout(const FileHeader& header, const HeaderLimits& limits, std::optional<uint64_t> file_size) {
  const PixelLayout& px = header.pixels;
  const auto fail = [&](const std::string& reason) { throw DicomError(header.path, reason); };
  if (px.rows == 0 || px.columns == 0) {
    fail("(0028,0010) Rows x (0028,0011) Columns is " + std::to_string(px.rows) + " x " + std::to_string(px.columns) +
         ": an image needs at least one pixel");
  }
  const bool bits_fit = px.floating ? px.samples_per_pixel == 1
                                     : px.bits_allocated == 1 || px.bits_allocated == 8 || px.bits_allocated == 16 ||
                                           px.bits_allocated == 32;
  if (!bits_fit) {
    fail("(0028,0100) BitsAllocated is " + std::to_string(px.bits_allocated) + " for " +
         std::to_string(px.samples_per_pixel) + " samples per pixel, expected 1, 8, 16 or 32 (32 or 64 for one float "
         "sample)");
  }
  // The stored bits start at HighBit + 1 - BitsStored, so HighBit below BitsStored - 1 would shift by
  // a negative amount when decoding (found by fuzz_decode).
  if (px.bits_stored == 0 || px.bits_stored > px.bits_allocated || px.high_bit >= px.bits_allocated ||
      px.high_bit + 1 < px.bits_stored) {
    fail("(0028,0101) BitsStored " + std::to_string(px.bits_stored) + " / (0028,0102) HighBit " +
         std::to_string(px.high_bit) + " do not fit each other or BitsAllocated " + std::to_string(px.bits_allocated));
  }
  if (px.samples_per_pixel != 1 && px.samples_per_pixel != 3) {
    fail("(0028,0002) SamplesPerPixel is " + std::to_string(px.samples_per_pixel) + ", expected 1 or 3");
  }
  const bool colour_photometric = px.photometric.rfind("RGB", 0) == 0 || px.photometric.rfind("YBR", 0) == 0;
  if ((px.samples_per_pixel == 3) != colour_photometric) {
    fail("(0028,0004) PhotometricInterpretation '" + px.photometric + "' does not fit SamplesPerPixel " +
         std::to_string(px.samples_per_pixel));
  }
  if (px.number_of_frames > limits.max_frames) {
    fail("(0028,0008) NumberOfFrames " + std::to_string(px.number_of_frames) + " exceeds the limit of " +
         std::to_string(limits.max_frames));
  }
  if (px.TotalBytes() > limits.max_pixel_bytes) {
    fail("declared image of " + std::to_string(px.columns) + " x " + std::to_string(px.rows) + " x " +
         std::to_string(px.number_of_frames) + " frames needs " + std::to_string(px.TotalBytes()) +
         " bytes, over the limit of " + std::to_string(limits.max_pixel_bytes));
  }
  if (!header.has_pixel_data || header.encapsulated) return;
  if (file_size && header.pixel_data_length > *file_size) {
    fail("file is truncated: (7FE0,0010) PixelData declares " + std::to_string(header.pixel_data_length) +
         " bytes but the file has " + std::to_string(*file_size));
  }
  if (header.pixel_data_length < px.TotalBytes()) {
    fail("(7FE0,0010) PixelData has " + std::to_string(header.pixel_data_length) + " bytes, Rows x Columns x " +
         "samples x bytes x frames needs " + std::to_string(px.TotalBytes()));
  }
}

// PS3.5 9.1: digits and dots, at most 64 characters.
bool IsUid(const std::string& value) {
  return !value.empty() && value.size() <= 64 && value.find_first_not_of("0123456789.") == std::string::npos;
}

// A value too long to be a UID is kept as its digest: files still group as they claim, and no output
// repeats megabytes of a hostile tag.
std::string BoundedUid(std::string value) {
  return value.size() <= 64 ? value : "invalid:" + Sha256Hex(value).substr(0, 32);
}

// Why a DICOM object (SEG, RTSTRUCT, SR) cannot reference this file's image, or empty when it can.
std::string UidProblem(const std::array<std::string, 4>& raw_uids) {
  static constexpr const char* kNames[] = {"(0008,0016) SOPClassUID", "(0008,0018) SOPInstanceUID",
                                           "(0020,000D) StudyInstanceUID", "(0020,000E) SeriesInstanceUID"};
  for (size_t i = 0; i < raw_uids.size(); ++i) {
    if (raw_uids[i].empty()) return std::string(kNames[i]) + " is missing";
    if (!IsUid(raw_uids[i]))
      return std::string(kNames[i]) + " is not a valid UID (" + std::to_string(raw_uids[i].size()) + " characters)";
  }
  return "";
}

}  // namespace

uint64_t PixelLayout::TotalSamples() const { return uint64_t{rows} * columns * samples_per_pixel * number_of_frames; }

uint64_t PixelLayout::TotalBytes() const { return (TotalSamples() * bits_allocated + 7) / 8; }

namespace {
uint32_t MosaicTilesPerSide(uint32_t tiles) {
  uint32_t side = 1;
  while (side * side < tiles) ++side;
  return side;
}
}  // namespace

uint32_t FileHeader::SliceRows() const {
  return mosaic_tiles > 1 ? pixels.rows / MosaicTilesPerSide(mosaic_tiles) : pixels.rows;
}

uint32_t FileHeader::SliceColumns() const {
  return mosaic_tiles > 1 ? pixels.columns / MosaicTilesPerSide(mosaic_tiles) : pixels.columns;
}

bool LooksLikeDicom(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::array<unsigned char, 132> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const auto read = in.gcount();
  if (read == 132 && head[128] == 'D' && head[129] == 'I' && head[130] == 'C' && head[131] == 'M') return true;
  if (read < 8) return false;
  const unsigned group = head[0] | (head[1] << 8);
  return group == 0x0002 || group == 0x0008;
}

namespace {

// Loads PATH's elements into FILE after the raw checks, leaving long values (pixel data) on disk;
// returns the file's size.
uint64_t LoadHeader(const std::string& path, const HeaderLimits& limits, DcmFileFormat& file) {
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(path, ec);
  if (ec) throw DicomError(path, "cannot read file: " + ec.message());
  if (file_size == 0) throw DicomError(path, "empty file (0 bytes)");
  if (!LooksLikeDicom(path)) throw DicomError(path, "not a DICOM file: no 'DICM' prefix and no DICOM dataset start");
  CheckRawBytes(path, limits.max_pixel_bytes + kMaxHeaderBytes);
  ReadUnknownVrWithDictionary();
  try {
    const OFCondition status = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, kMaxHeaderValueBytes,
                                             ERM_autoDetect);
    if (status == EC_StreamNotifyClient) throw DicomError(path, "file is truncated: the data ends inside an element");
    if (status.bad()) throw DicomError(path, std::string("cannot parse DICOM header: ") + status.text());
  } catch (const std::bad_alloc&) {
    throw DicomError(path, "cannot parse DICOM header: a declared length exhausts memory");
  }
  return file_size;
}

}  // namespace

std::vector<std::filesystem::path> ReadDicomdirReferences(const std::string& path, const HeaderLimits& limits) {
  DcmFileFormat file;
  LoadHeader(path, limits, file);
  std::vector<std::filesystem::path> references;
  DcmSequenceOfItems* records = nullptr;
  if (file.getDataset()->findAndGetSequence(DCM_DirectoryRecordSequence, records).bad() || !records) return references;
  const auto folder = std::filesystem::path(path).parent_path();
  for (unsigned long i = 0; i < records->card(); ++i) {
    OFString id;
    if (records->getItem(i)->findAndGetOFStringArray(DCM_ReferencedFileID, id).bad() || id.empty()) continue;
    std::string relative = id.c_str();
    std::replace(relative.begin(), relative.end(), '\\', '/');
    // File IDs name files on the medium below the DICOMDIR; one leading elsewhere is hostile.
    const std::filesystem::path reference(relative);
    if (reference.is_absolute() || std::find(reference.begin(), reference.end(), "..") != reference.end())
      throw DicomError(path, "a directory record names a file outside the DICOMDIR's folder: '" + relative + "'");
    references.push_back(folder / reference);
  }
  return references;
}

FileHeader ReadFileHeader(const std::string& path, const HeaderLimits& limits) {
  DcmFileFormat file;
  const uint64_t file_size = LoadHeader(path, limits, file);
  DcmDataset& dataset = *file.getDataset();

  FileHeader header;
  header.path = path;
  header.transfer_syntax_uid = DcmXfer(dataset.getOriginalXfer()).getXferID();
  header.frame_of_reference_uid = BoundedUid(GetString(dataset, DCM_FrameOfReferenceUID));
  header.modality = GetString(dataset, DCM_Modality);
  header.series_description = GetString(dataset, DCM_SeriesDescription);
  header.image_type = GetString(dataset, DCM_ImageType);
  header.manufacturer = GetString(dataset, DCM_Manufacturer);
  header.body_part = GetString(dataset, DCM_BodyPartExamined);
  header.patient_position = GetString(dataset, DCM_PatientPosition);
  header.study_date = GetString(dataset, DCM_StudyDate);
  header.series_number = GetInt(dataset, DCM_SeriesNumber);
  header.instance_number = GetInt(dataset, DCM_InstanceNumber);
  header.acquisition_number = GetInt(dataset, DCM_AcquisitionNumber);
  header.echo_number = GetInt(dataset, DCM_EchoNumbers);
  header.echo_time = GetDouble(dataset, DCM_EchoTime);
  header.repetition_time = GetDouble(dataset, DCM_RepetitionTime);
  header.slice_thickness = GetDouble(dataset, DCM_SliceThickness);
  header.gantry_tilt_deg = GetDouble(dataset, DCM_GantryDetectorTilt).value_or(0.0);
  header.imager_pixel_spacing = GetDoubles<2>(dataset, DCM_ImagerPixelSpacing);
  header.window_center = GetDouble(dataset, DCM_WindowCenter);
  header.window_width = GetDouble(dataset, DCM_WindowWidth);
  std::string sop_instance_uid = GetString(dataset, DCM_SOPInstanceUID);
  // Some anonymisers blank the dataset's UID but keep the file meta copy.
  if (sop_instance_uid.empty()) sop_instance_uid = GetString(*file.getMetaInfo(), DCM_MediaStorageSOPInstanceUID);
  if (sop_instance_uid.empty()) throw DicomError(path, "(0008,0018) SOPInstanceUID is missing");
  const std::array<std::string, 4> uids = {GetString(dataset, DCM_SOPClassUID), sop_instance_uid,
                                           GetString(dataset, DCM_StudyInstanceUID),
                                           GetString(dataset, DCM_SeriesInstanceUID)};
  header.uid_problem = UidProblem(uids);
  header.sop_class_uid = BoundedUid(uids[0]);
  header.sop_instance_uid = BoundedUid(uids[1]);
  header.study_instance_uid = BoundedUid(uids[2]);
  header.series_instance_uid = BoundedUid(uids[3]);

  ReadPixelLayout(dataset, header);
  if (header.has_pixel_data) {
    const bool deflated = DcmXfer(dataset.getOriginalXfer()).getStreamCompression() != ESC_none;
    ValidatePixelLayout(header, limits, deflated ? std::nullopt : std::optional<uint64_t>(file_size));
    ReadFrames(dataset, header);
    ReadVendorDiffusion(dataset, header);
    header.philips_scale_slope = header.frames.front().philips_scale_slope;
    header.philips_rescale_slope = header.frames.front().rescale_slope;
    if (!header.enhanced) {
      const std::string component = ClassicComponent(dataset, header);
      for (auto& frame : header.frames) {
        frame.echo_time = header.echo_time;
        frame.component = component;
      }
    }
    if (header.pixels.number_of_frames == 1 && header.image_type.find("MOSAIC") != std::string::npos) {
      ReadSiemensMosaic(dataset, header);
    } else if (header.pixels.number_of_frames == 1 && header.manufacturer.find("UIH") != std::string::npos) {
      ReadUihMosaic(dataset, header);
    }
  }
  return header;
}

}  // namespace medpipe::dicom
