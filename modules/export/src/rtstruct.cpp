#include "medpipe/export/rtstruct.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrtm.h>
#include <dcmtk/dcmrt/drtstrct.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "export_support.h"

namespace medpipe::exporter {
namespace {

using dicom::FileHeader;
using dicom::Series;

// A pixel corner on a mask slice: corner (x, y) is the top-left corner of pixel (x, y), at continuous
// index (x - 0.5, y - 0.5).
struct Corner {
  int x = 0, y = 0;
  bool operator==(const Corner& other) const { return x == other.x && y == other.y; }
};
using Contour = std::vector<Corner>;

// A contour as read: continuous (column, row) indices on one slice of the reference grid.
using Polygon = std::vector<std::array<double, 2>>;

// Contour points are decimal strings of 10 significant digits: far closer than this to a slice.
constexpr double kOnSliceVoxels = 0.01;

// RT objects name their study by this SOP class (PS3.3 C.8.8.5.3), retired elsewhere.
constexpr const char* kStudyReferenceClass = UID_RETIRED_DetachedStudyManagementSOPClass;

// The labels of LABELS that MASK holds, in LABELS order. A voxel value that no label names would
// silently vanish from the structure set, and one without any ROI is not a valid object.
std::vector<model::Label> PresentLabels(const LabelImage& mask, const std::vector<model::Label>& labels,
                                        const std::string& where) {
  std::array<size_t, 256> voxels{};
  const uint8_t* values = mask.GetBufferPointer();
  for (size_t i = 0; i < mask.GetPixelContainer()->Size(); ++i) ++voxels[values[i]];
  std::array<bool, 256> named{};
  std::vector<model::Label> present;
  for (const model::Label& label : labels) {
    named[label.value] = true;
    if (voxels[label.value] > 0) present.push_back(label);
  }
  for (int value = 1; value < 256; ++value) {
    if (voxels[value] > 0 && !named[value]) {
      throw ModelError(where, "mask holds value " + std::to_string(value) + " that no label names");
    }
  }
  if (present.empty()) throw DicomError(where, "mask holds no voxel of any label, and a structure set needs a ROI");
  return present;
}

// Patient, study and frame of reference are those of the source.
void CopyPatientAndStudy(DRTStructureSetIOD& rt, const Series& source, DcmDataset& dataset, const std::string& where) {
  const FileHeader& first = source.files.front();
  if (first.frame_of_reference_uid.empty()) {
    throw DicomError(first.path, "has no FrameOfReferenceUID, so contour points would refer to nothing");
  }
  Require(rt.readStudyData(dataset), first.path, "cannot copy patient and study");
  OFString charset, indicator;
  if (dataset.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset).good()) {
    Require(rt.setSpecificCharacterSet(charset), where, "cannot set SpecificCharacterSet");
  }
  // The IOD carries the Frame of Reference module too (dciodvfy requires it), not only the references.
  Require(rt.setFrameOfReferenceUID(first.frame_of_reference_uid.c_str()), where, "cannot set FrameOfReferenceUID");
  dataset.findAndGetOFStringArray(DCM_PositionReferenceIndicator, indicator);
  Require(rt.setPositionReferenceIndicator(indicator), where, "cannot set PositionReferenceIndicator");
}

// A new series of one new instance, named after the model.
void SetSeries(DRTStructureSetIOD& rt, const Series& source, const std::string& algorithm_name,
               const std::string& where) {
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  Require(rt.setSOPClassUID(UID_RTStructureSetStorage), where, "cannot set SOPClassUID");
  Require(rt.setSOPInstanceUID(NewUid().c_str()), where, "cannot set SOPInstanceUID");
  Require(rt.setSeriesInstanceUID(NewUid().c_str()), where, "cannot set SeriesInstanceUID");
  Require(rt.setModality("RTSTRUCT"), where, "cannot set Modality");
  Require(rt.setSeriesNumber(std::to_string(source.series_number + kRtStructSeries).c_str()), where,
          "cannot set SeriesNumber");
  Require(rt.setSeriesDescription(DerivedSeriesDescription("RTSTRUCT " + algorithm_name, source).c_str()), where,
          "cannot set SeriesDescription");
  Require(rt.setInstanceNumber("1"), where, "cannot set InstanceNumber");
  Require(rt.setManufacturer("medpipe"), where, "cannot set Manufacturer");
  Require(rt.setSoftwareVersions(MEDPIPE_VERSION), where, "cannot set SoftwareVersions");
  Require(rt.setStructureSetLabel("medpipe"), where, "cannot set StructureSetLabel");
  Require(rt.setStructureSetName(algorithm_name.c_str()), where, "cannot set StructureSetName");
  Require(rt.setStructureSetDate(date), where, "cannot set StructureSetDate");
  Require(rt.setStructureSetTime(time), where, "cannot set StructureSetTime");
}

// Adds FILE to IMAGES; FRAME (from 0) is referenced when the file has several.
void AddImage(DRTContourImageSequence& images, const FileHeader& file, std::optional<size_t> frame = std::nullopt) {
  DRTContourImageSequence::Item* image = nullptr;
  Require(images.addItem(image), file.path, "cannot be referenced");
  Require(image->setReferencedSOPClassUID(file.sop_class_uid.c_str()), file.path, "cannot reference SOPClassUID");
  Require(image->setReferencedSOPInstanceUID(file.sop_instance_uid.c_str()), file.path,
          "cannot reference SOPInstanceUID");
  if (frame && file.frames.size() > 1) {
    Require(image->setReferencedFrameNumber(std::to_string(*frame + 1).c_str()), file.path, "cannot reference the frame");
  }
}

// The frame of reference, study and series the contours lie in, with every source instance.
void AddReferencedSeries(DRTStructureSetIOD& rt, const Series& source, const std::string& where) {
  const FileHeader& first = source.files.front();
  const std::string doing = "cannot reference the source series";
  DRTReferencedFrameOfReferenceSequence::Item* frame = nullptr;
  Require(rt.getReferencedFrameOfReferenceSequence().addItem(frame), where, doing);
  Require(frame->setFrameOfReferenceUID(first.frame_of_reference_uid.c_str()), where, doing);
  DRTRTReferencedStudySequence::Item* study = nullptr;
  Require(frame->getRTReferencedStudySequence().addItem(study), where, doing);
  Require(study->setReferencedSOPClassUID(kStudyReferenceClass), where, doing);
  Require(study->setReferencedSOPInstanceUID(first.study_instance_uid.c_str()), where, doing);
  DRTRTReferencedSeriesSequence::Item* series = nullptr;
  Require(study->getRTReferencedSeriesSequence().addItem(series), where, doing);
  Require(series->setSeriesInstanceUID(source.series_instance_uid.c_str()), where, doing);
  for (const FileHeader& file : source.files) AddImage(series->getContourImageSequence(), file);
}

void AddRoi(DRTStructureSetIOD& rt, const model::Label& label, const Series& source, const std::string& algorithm_name,
            const std::string& where) {
  const std::string doing = "cannot add ROI '" + label.name + "'";
  DRTStructureSetROISequence::Item* roi = nullptr;
  Require(rt.getStructureSetROISequence().addItem(roi), where, doing);
  Require(roi->setROINumber(std::to_string(label.value).c_str()), where, doing);
  Require(roi->setReferencedFrameOfReferenceUID(source.files.front().frame_of_reference_uid.c_str()), where, doing);
  Require(roi->setROIName(RoiName(label).c_str()), where, doing);
  Require(roi->setROIGenerationAlgorithm("AUTOMATIC"), where, doing);
  Require(roi->setROIGenerationDescription(algorithm_name.c_str()), where, doing);
}

// Code sequence items of dcmrt share their setters but not a base class.
template <typename Item>
void SetCode(Item& item, const model::Code& code, const std::string& where, const std::string& doing) {
  Require(item.setCodeValue(code.value.c_str()), where, doing);
  Require(item.setCodingSchemeDesignator(code.scheme.c_str()), where, doing);
  Require(item.setCodeMeaning(code.meaning.c_str()), where, doing);
}

// RTROIInterpretedType (PS3.3 C.8.8.8.1) from the label's category: an anatomical structure is an
// ORGAN. The list has no term for the rest of what a model segments (a lesion is no GTV until a
// clinician makes it one), so that is left empty, as the type 2 attribute allows.
std::string InterpretedType(const model::Label& label) {
  return model::IsAnatomicalCategory(CategoryOf(label)) ? "ORGAN" : "";
}

constexpr size_t kShortStringLength = 16;  // VR SH, PS3.5 6.2

// The label's codes say what the ROI is; who interpreted it (type 2) is left empty for a model.
void AddObservation(DRTStructureSetIOD& rt, const model::Label& label, const std::string& where) {
  const std::string doing = "cannot add the observation of ROI '" + label.name + "'";
  const std::string number = std::to_string(label.value);
  DRTRTROIObservationsSequence::Item* observation = nullptr;
  Require(rt.getRTROIObservationsSequence().addItem(observation), where, doing);
  Require(observation->setObservationNumber(number.c_str()), where, doing);
  Require(observation->setReferencedROINumber(number.c_str()), where, doing);
  // ROIObservationLabel is SH (16 characters): longer names (TotalSegmentator's "brachiocephalic_trunk") are cut.
  Require(observation->setROIObservationLabel(label.name.substr(0, kShortStringLength).c_str()), where, doing);
  Require(observation->setRTROIInterpretedType(InterpretedType(label).c_str()), where, doing);
  DRTRTROIIdentificationCodeSequence::Item* type = nullptr;
  Require(observation->getRTROIIdentificationCodeSequence().addItem(type), where, doing);
  SetCode(*type, TypeOf(label), where, doing);
  DRTSegmentedPropertyCategoryCodeSequence::Item* category = nullptr;
  Require(observation->getSegmentedPropertyCategoryCodeSequence().addItem(category), where, doing);
  SetCode(*category, CategoryOf(label), where, doing);
}

// ---- contours along pixel edges ----

// The pixels of one label on one mask slice; nothing outside the slice belongs to it.
struct SliceRegion {
  const uint8_t* voxels = nullptr;
  int width = 0, height = 0;
  uint8_t value = 0;

  bool Has(int x, int y) const {
    return x >= 0 && y >= 0 && x < width && y < height && voxels[static_cast<size_t>(y) * width + x] == value;
  }
  bool Empty() const {
    const uint8_t* end = voxels + static_cast<size_t>(width) * height;
    return std::find(voxels, end, value) == end;
  }
};

SliceRegion RegionOf(const LabelImage& mask, itk::IndexValueType k, uint8_t value) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  return {mask.GetBufferPointer() + static_cast<size_t>(k) * size[0] * size[1], static_cast<int>(size[0]),
          static_cast<int>(size[1]), value};
}

// Unit steps along pixel edges, each a right turn on the image (rows down) from the one before.
constexpr std::array<Corner, 4> kSteps{{{1, 0}, {0, 1}, {-1, 0}, {0, -1}}};

// The edges between a region's pixels and the rest of the slice, directed so that the region lies on
// their right on the image: outer borders run clockwise there, borders of holes anticlockwise. Each
// corner holds the steps that leave it along an edge, as bits.
class BoundaryEdges {
 public:
  explicit BoundaryEdges(const SliceRegion& region) : stride_(region.width + 1) {
    leaving_.resize(static_cast<size_t>(stride_) * (region.height + 1));
    for (int y = 0; y < region.height; ++y) {
      for (int x = 0; x < region.width; ++x) {
        if (!region.Has(x, y)) continue;
        // Its top, right, bottom and left sides where they face the outside, clockwise around it.
        if (!region.Has(x, y - 1)) Add({x, y}, 0);
        if (!region.Has(x + 1, y)) Add({x + 1, y}, 1);
        if (!region.Has(x, y + 1)) Add({x + 1, y + 1}, 2);
        if (!region.Has(x - 1, y)) Add({x, y + 1}, 3);
      }
    }
  }

  size_t At(Corner corner) const { return static_cast<size_t>(corner.y) * stride_ + corner.x; }
  const std::vector<uint8_t>& Leaving() const { return leaving_; }
  int Stride() const { return stride_; }

  // The step to leave corner AT by, arriving there by step IN. Turning right first keeps to the pixel
  // being followed, so pixels that touch only at a corner are separate regions (4-connected) and a
  // pocket of the outside that reaches in through a corner stays outside, not a hole.
  int Next(Corner at, int in) const {
    for (int turn : {1, 0}) {
      const int step = (in + turn) % 4;
      if (leaving_[At(at)] & (1 << step)) return step;
    }
    return (in + 3) % 4;  // a corner entered along an edge is left along one, never back the same way
  }

 private:
  void Add(Corner corner, int step) { leaving_[At(corner)] |= static_cast<uint8_t>(1 << step); }

  int stride_;
  std::vector<uint8_t> leaving_;
};

// Follows EDGES from corner START by step FIRST until back on that edge, crossing each edge off UNUSED,
// and returns the corners where the boundary turns, so that collinear corners are left out.
Contour Trace(const BoundaryEdges& edges, Corner start, int first, std::vector<uint8_t>& unused) {
  Contour turns;
  Corner at = start;
  int step = first;
  do {
    unused[edges.At(at)] &= static_cast<uint8_t>(~(1 << step));
    at = {at.x + kSteps[step].x, at.y + kSteps[step].y};
    const int next = edges.Next(at, step);
    if (next != step) turns.push_back(at);
    step = next;
  } while (!(at == start && step == first));
  return turns;
}

// Every closed border of REGION along pixel edges, outer borders and holes alike (the convention in
// rtstruct.h), in the order of their first corner row by row.
std::vector<Contour> CrackContours(const SliceRegion& region) {
  if (region.Empty()) return {};
  const BoundaryEdges edges(region);
  std::vector<uint8_t> unused = edges.Leaving();
  std::vector<Contour> contours;
  for (size_t i = 0; i < unused.size(); ++i) {
    while (unused[i] != 0) {
      const Corner corner{static_cast<int>(i % edges.Stride()), static_cast<int>(i / edges.Stride())};
      int first = 0;
      while (!(unused[i] & (1 << first))) ++first;
      contours.push_back(Trace(edges, corner, first, unused));
    }
  }
  return contours;
}

// CONTOUR's corners on mask slice K as patient LPS points, x\y\z per point.
std::string ContourData(const LabelImage& mask, const Contour& contour, itk::IndexValueType k) {
  std::string data;
  for (const Corner& corner : contour) {
    itk::ContinuousIndex<double, 3> index;
    index[0] = corner.x - 0.5;
    index[1] = corner.y - 0.5;
    index[2] = static_cast<double>(k);
    LabelImage::PointType point;
    mask.TransformContinuousIndexToPhysicalPoint(index, point);
    for (unsigned axis = 0; axis < 3; ++axis) data += (data.empty() ? "" : "\\") + Ds(point[axis]);
  }
  return data;
}

void AddContours(DRTStructureSetIOD& rt, const LabelImage& mask, const model::Label& label, const Series& source,
                 const std::string& where) {
  const std::string doing = "cannot add contours of ROI '" + label.name + "'";
  DRTROIContourSequence::Item* roi = nullptr;
  Require(rt.getROIContourSequence().addItem(roi), where, doing);
  Require(roi->setReferencedROINumber(std::to_string(label.value).c_str()), where, doing);
  const auto& colour = label.colour;
  Require(roi->setROIDisplayColor((std::to_string(colour[0]) + "\\" + std::to_string(colour[1]) + "\\" +
                                   std::to_string(colour[2])).c_str()),
          where, doing);
  const auto slices = static_cast<itk::IndexValueType>(mask.GetLargestPossibleRegion().GetSize()[2]);
  for (itk::IndexValueType k = 0; k < slices; ++k) {
    const auto source_slice = SourceSliceOf(source, mask, static_cast<size_t>(k));
    for (const Contour& contour : CrackContours(RegionOf(mask, k, static_cast<uint8_t>(label.value)))) {
      DRTContourSequence::Item* item = nullptr;
      Require(roi->getContourSequence().addItem(item), where, doing);
      if (source_slice) AddImage(item->getContourImageSequence(), source.files[source_slice->file], source_slice->frame);
      Require(item->setContourGeometricType("CLOSED_PLANAR"), where, doing);
      Require(item->setNumberOfContourPoints(std::to_string(contour.size()).c_str()), where, doing);
      Require(item->setContourData(ContourData(mask, contour, k).c_str()), where, doing);
    }
  }
}

void Save(DRTStructureSetIOD& rt, DcmItem& source_header, const std::string& where) {
  DcmFileFormat file;
  Require(rt.write(*file.getDataset()), where, "cannot encode the structure set");
  CopyDeidentification(source_header, *file.getDataset(), where);
  Require(file.saveFile(where.c_str(), EXS_LittleEndianExplicit), where, "cannot write the file");
}

// ---- reading ----

// A closed contour on one slice of the reference grid.
struct SlicePolygon {
  itk::IndexValueType slice = 0;
  Polygon points;
};

uint8_t RoiValue(const DRTROIContourSequence::Item& roi, const std::string& where) {
  Sint32 number = 0;
  Require(roi.getReferencedROINumber(number), where, "a ROI contour has no ReferencedROINumber");
  if (number < 1 || number > 255) {
    throw DicomError(where, "ROI number " + std::to_string(number) + " cannot be a label value (1 to 255)");
  }
  return static_cast<uint8_t>(number);
}

// Each point as a continuous index of the reference grid, not rounded; all must lie on one slice.
SlicePolygon ToPolygon(const OFVector<Float64>& data, const LabelImage& reference, const std::string& where,
                       const std::string& what) {
  if (data.empty() || data.size() % 3 != 0) {
    throw DicomError(where, what + " has " + std::to_string(data.size()) + " ContourData values, not x\\y\\z triples");
  }
  SlicePolygon polygon;
  const auto slices = static_cast<double>(reference.GetLargestPossibleRegion().GetSize()[2]);
  for (size_t i = 0; i < data.size(); i += 3) {
    LabelImage::PointType point;
    for (unsigned axis = 0; axis < 3; ++axis) point[axis] = data[i + axis];
    itk::ContinuousIndex<double, 3> index;
    reference.TransformPhysicalPointToContinuousIndex(point, index);
    const double slice = std::round(index[2]);
    if (std::abs(index[2] - slice) > kOnSliceVoxels || slice < 0 || slice >= slices ||
        (i > 0 && slice != polygon.slice)) {
      throw DicomError(where, what + " has a point at (" + Ds(point[0]) + ", " + Ds(point[1]) + ", " + Ds(point[2]) +
                                  ") mm that is not on its slice of the reference grid");
    }
    polygon.slice = static_cast<itk::IndexValueType>(slice);
    polygon.points.push_back({index[0], index[1]});
  }
  return polygon;
}

// The closed contours of one ROI, grouped by reference slice.
std::map<itk::IndexValueType, std::vector<Polygon>> PolygonsBySlice(const DRTROIContourSequence::Item& roi, uint8_t value,
                                                                   const LabelImage& reference, const std::string& where) {
  std::map<itk::IndexValueType, std::vector<Polygon>> by_slice;
  const DRTContourSequence& contours = roi.getContourSequence();
  for (size_t i = 0; i < contours.getNumberOfItems(); ++i) {
    const DRTContourSequence::Item& contour = contours.getItem(i);
    OFString type;
    contour.getContourGeometricType(type);
    if (type != "CLOSED_PLANAR") continue;
    const std::string what = "contour " + std::to_string(i + 1) + " of ROI " + std::to_string(value);
    OFVector<Float64> data;
    Require(contour.getContourData(data), where, what + " has no ContourData");
    SlicePolygon polygon = ToPolygon(data, reference, where, what);
    by_slice[polygon.slice].push_back(std::move(polygon.points));
  }
  return by_slice;
}

// The columns where the edges of POLYGONS cross the line through the pixel centres of row Y, in order.
// An edge holds its upper end and not its lower one, so a corner on the line counts once or not at all.
std::vector<double> RowCrossings(const std::vector<Polygon>& polygons, double y) {
  std::vector<double> columns;
  for (const Polygon& polygon : polygons) {
    for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
      const auto& a = polygon[j];
      const auto& b = polygon[i];
      if ((a[1] <= y) != (b[1] <= y)) columns.push_back(a[0] + (y - a[1]) * (b[0] - a[0]) / (b[1] - a[1]));
    }
  }
  std::sort(columns.begin(), columns.end());
  return columns;
}

// The first pixel whose centre is at or beyond POSITION (a column or row), kept within 0..COUNT.
long FirstCentreFrom(double position, size_t count) {
  return static_cast<long>(std::clamp(std::ceil(position), 0.0, static_cast<double>(count)));
}

// Sets VALUE on every pixel of slice SLICE whose centre lies inside an odd number of POLYGONS: the
// even-odd rule sampled at voxel centres, as RT systems read contours (the convention in rtstruct.h).
void PaintSlice(LabelImage& out, itk::IndexValueType slice, const std::vector<Polygon>& polygons, uint8_t value) {
  const auto size = out.GetLargestPossibleRegion().GetSize();
  uint8_t* voxels = out.GetBufferPointer() + static_cast<size_t>(slice) * size[0] * size[1];
  double top = INFINITY, bottom = -INFINITY;
  for (const Polygon& polygon : polygons) {
    for (const auto& point : polygon) top = std::min(top, point[1]), bottom = std::max(bottom, point[1]);
  }
  for (long row = FirstCentreFrom(top, size[1]); row < FirstCentreFrom(bottom, size[1]); ++row) {
    const std::vector<double> columns = RowCrossings(polygons, static_cast<double>(row));
    uint8_t* line = voxels + static_cast<size_t>(row) * size[0];
    for (size_t i = 0; i + 1 < columns.size(); i += 2) {
      const long first = FirstCentreFrom(columns[i], size[0]), end = FirstCentreFrom(columns[i + 1], size[0]);
      if (first < end) std::fill(line + first, line + end, value);
    }
  }
}

}  // namespace

std::string RoiName(const model::Label& label) {
  const std::string structure = model::StructureText(label);
  return (structure.empty() ? label.name : structure).substr(0, 64);
}

std::string WriteRtStruct(const LabelImage& mask, const std::vector<model::Label>& labels,
                          const dicom::SourceSeries& source_series, const std::string& algorithm_name,
                          const std::filesystem::path& path) {
  const std::string where = path.string();
  const Series& source = *source_series.series;
  if (labels.empty()) throw ModelError(where, "no labels: a structure set needs at least one ROI");
  SegmentValues(labels, where);  // label values 1..255
  const std::vector<model::Label> present = PresentLabels(mask, labels, where);
  DRTStructureSetIOD rt;
  const auto header = dicom::ParseSourceHeader(source_series);
  CopyPatientAndStudy(rt, source, *header->getDataset(), where);
  SetSeries(rt, source, algorithm_name, where);
  AddReferencedSeries(rt, source, where);
  for (const model::Label& label : present) {
    AddRoi(rt, label, source, algorithm_name, where);
    AddContours(rt, mask, label, source, where);
    AddObservation(rt, label, where);
  }
  Save(rt, *header->getDataset(), where);
  OFString uid;
  Require(rt.getSOPInstanceUID(uid), where, "cannot read back SOPInstanceUID");
  return uid.c_str();
}

LabelImage::Pointer ReadRtStruct(const std::filesystem::path& path, const LabelImage& reference) {
  const std::string where = path.string();
  DcmFileFormat file;
  Require(file.loadFile(where.c_str()), where, "cannot read the file");
  DRTStructureSetIOD rt;
  Require(rt.read(*file.getDataset()), where, "cannot read the structure set");
  auto out = EmptyLabelImageOn(reference);
  const DRTROIContourSequence& rois = rt.getROIContourSequence();
  for (size_t i = 0; i < rois.getNumberOfItems(); ++i) {
    const uint8_t value = RoiValue(rois.getItem(i), where);
    for (const auto& [slice, polygons] : PolygonsBySlice(rois.getItem(i), value, reference, where)) {
      PaintSlice(*out, slice, polygons, value);
    }
  }
  return out;
}

}  // namespace medpipe::exporter
