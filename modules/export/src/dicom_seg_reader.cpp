#include <dcmtk/dcmfg/fginterface.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmfg/fgseg.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segutils.h>

#include <cmath>
#include <memory>

#include "medpipe/export/dicom_seg.h"
#include "export_support.h"

namespace medpipe::exporter {
namespace {

// Frame positions are decimal strings of 10 significant digits: far closer than this to a slice.
constexpr double kOnSliceVoxels = 0.01;
constexpr double kCosineTolerance = 1e-4;
constexpr double kSpacingTolerance = 1e-3;  // relative

std::unique_ptr<DcmSegmentation> Load(const std::string& where) {
  DcmSegmentation* loaded = nullptr;
  Require(DcmSegmentation::loadFile(where.c_str(), loaded), where, "cannot read the segmentation");
  std::unique_ptr<DcmSegmentation> seg(loaded);
  if (seg->getSegmentationType() != DcmSegTypes::ST_BINARY) {
    throw DicomError(where, "is a fractional segmentation; only binary SEG objects are read");
  }
  return seg;
}

template <typename Group>
Group& FrameGroup(FGInterface& groups, size_t frame, DcmFGTypes::E_FGType type, const std::string& where,
                  const std::string& name) {
  auto* group = dynamic_cast<Group*>(groups.get(static_cast<Uint32>(frame), type));
  if (!group) throw DicomError(where, "frame " + std::to_string(frame + 1) + " has no " + name);
  return *group;
}

// Frames can only be placed pixel for pixel on REFERENCE's slices when they share its matrix,
// orientation and in-plane spacing.
void RequireReferencePlane(DcmSegmentation& seg, const LabelImage& reference, const std::string& where) {
  const auto size = reference.GetLargestPossibleRegion().GetSize();
  // dcmseg hides the Image Pixel module; the image base class it derives from exposes it.
  auto& pixel_module = static_cast<DcmIODImage<IODImagePixelModule<Uint8>>&>(seg).getImagePixel();
  Uint16 rows = 0, columns = 0;
  Require(pixel_module.getRows(rows), where, "no Rows");
  Require(pixel_module.getColumns(columns), where, "no Columns");
  if (rows != size[1] || columns != size[0]) {
    throw DicomError(where, "frames of " + std::to_string(columns) + " x " + std::to_string(rows) +
                                " pixels do not match reference slices of " + std::to_string(size[0]) + " x " +
                                std::to_string(size[1]));
  }
  if (seg.getNumberOfFrames() == 0) return;
  FGInterface& groups = seg.getFunctionalGroups();
  Float64 cosines[6];
  Require(FrameGroup<FGPlaneOrientationPatient>(groups, 0, DcmFGTypes::EFG_PLANEORIENTPATIENT, where, "plane orientation")
              .getImageOrientationPatient(cosines[0], cosines[1], cosines[2], cosines[3], cosines[4], cosines[5]),
          where, "no ImageOrientationPatient");
  const auto& direction = reference.GetDirection();
  for (int i = 0; i < 6; ++i) {
    if (std::abs(cosines[i] - direction[i % 3][i / 3]) > kCosineTolerance) {
      throw DicomError(where, "frame orientation differs from the reference grid's row and column directions");
    }
  }
  auto& measures = FrameGroup<FGPixelMeasures>(groups, 0, DcmFGTypes::EFG_PIXELMEASURES, where, "pixel measures");
  for (unsigned i = 0; i < 2; ++i) {
    Float64 spacing = 0;
    Require(measures.getPixelSpacing(spacing, i), where, "no PixelSpacing");
    const double expected = reference.GetSpacing()[1 - i];  // rows (y) first
    if (std::abs(spacing - expected) > kSpacingTolerance * expected) {
      throw DicomError(where, "PixelSpacing " + std::to_string(spacing) + " mm differs from the reference grid's " +
                                  std::to_string(expected) + " mm");
    }
  }
}

// The reference slice that frame FRAME's top left pixel lies on.
itk::IndexValueType SliceOf(FGInterface& groups, size_t frame, const LabelImage& reference, const std::string& where) {
  LabelImage::PointType corner;
  Require(FrameGroup<FGPlanePosPatient>(groups, frame, DcmFGTypes::EFG_PLANEPOSPATIENT, where, "plane position")
              .getImagePositionPatient(corner[0], corner[1], corner[2]),
          where, "no ImagePositionPatient in frame " + std::to_string(frame + 1));
  itk::ContinuousIndex<double, 3> index;
  reference.TransformPhysicalPointToContinuousIndex(corner, index);
  const double slice = std::round(index[2]);
  const auto slices = static_cast<double>(reference.GetLargestPossibleRegion().GetSize()[2]);
  if (std::abs(index[0]) > kOnSliceVoxels || std::abs(index[1]) > kOnSliceVoxels ||
      std::abs(index[2] - slice) > kOnSliceVoxels || slice < 0 || slice >= slices) {
    throw DicomError(where, "frame " + std::to_string(frame + 1) + " at (" + std::to_string(corner[0]) + ", " +
                                std::to_string(corner[1]) + ", " + std::to_string(corner[2]) +
                                ") mm is not on a slice of the reference grid");
  }
  return static_cast<itk::IndexValueType>(slice);
}

uint8_t ValueOf(FGInterface& groups, size_t frame, const std::vector<uint8_t>& values, const std::string& where) {
  Uint16 segment = 0;
  Require(FrameGroup<FGSegmentation>(groups, frame, DcmFGTypes::EFG_SEGMENTATION, where, "segment reference")
              .getReferencedSegmentNumber(segment),
          where, "no ReferencedSegmentNumber in frame " + std::to_string(frame + 1));
  if (segment < 1 || segment > values.size()) {
    throw DicomError(where, "frame " + std::to_string(frame + 1) + " refers to segment " + std::to_string(segment) +
                                " but " + std::to_string(values.size()) + " labels were given");
  }
  return values[segment - 1];
}

// Sets VALUE on slice SLICE of OUT wherever the binary frame FRAME is set.
void PaintFrame(DcmSegmentation& seg, size_t frame, itk::IndexValueType slice, uint8_t value, LabelImage& out,
                const std::string& where) {
  const auto size = out.GetLargestPossibleRegion().GetSize();
  const DcmIODTypes::Frame* packed = seg.getFrame(frame);
  std::unique_ptr<DcmIODTypes::Frame> pixels(
      packed ? DcmSegUtils::unpackBinaryFrame(packed, static_cast<Uint16>(size[1]), static_cast<Uint16>(size[0])) : nullptr);
  const size_t plane = size[0] * size[1];
  if (!pixels || pixels->length < plane) throw DicomError(where, "frame " + std::to_string(frame + 1) + " has too few pixels");
  uint8_t* target = out.GetBufferPointer() + static_cast<size_t>(slice) * plane;
  for (size_t i = 0; i < plane; ++i) {
    if (pixels->pixData[i]) target[i] = value;
  }
}

}  // namespace

LabelImage::Pointer ReadDicomSeg(const std::filesystem::path& path, const LabelImage& reference,
                                 const std::vector<model::Label>& labels) {
  const std::string where = path.string();
  const std::vector<uint8_t> values = SegmentValues(labels, where);
  const auto seg = Load(where);
  RequireReferencePlane(*seg, reference, where);
  FGInterface& groups = seg->getFunctionalGroups();
  auto out = EmptyLabelImageOn(reference);
  for (size_t frame = 0; frame < seg->getNumberOfFrames(); ++frame) {
    PaintFrame(*seg, frame, SliceOf(groups, frame, reference, where), ValueOf(groups, frame, values, where), *out, where);
  }
  return out;
}

}  // namespace medpipe::exporter
