#include "medpipe/export/rtstruct.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrtm.h>
#include <dcmtk/dcmrt/drtstrct.h>

#include <opencv2/imgproc.hpp>

#include <array>
#include <cmath>
#include <map>

#include "export_support.h"

namespace medpipe::exporter {
namespace {

using dicom::FileHeader;
using dicom::Series;
using Contour = std::vector<cv::Point>;  // pixel (column, row) positions on one slice

// Contour points are decimal strings of 10 significant digits: far closer than this to a slice.
constexpr double kOnSliceVoxels = 0.01;

// RT objects name their study by this SOP class (PS3.3 C.8.8.5.3), retired elsewhere.
constexpr const char* kStudyReferenceClass = UID_RETIRED_DetachedStudyManagementSOPClass;

// A mask slice as an OpenCV matrix over the image's own voxels (rows y, columns x).
cv::Mat SliceOf(const LabelImage& image, itk::IndexValueType k) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  auto* voxels = const_cast<uint8_t*>(image.GetBufferPointer()) + static_cast<size_t>(k) * size[0] * size[1];
  return cv::Mat(static_cast<int>(size[1]), static_cast<int>(size[0]), CV_8U, voxels);
}

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
void CopyPatientAndStudy(DRTStructureSetIOD& rt, const dicom::SourceSeries& source, const std::string& where) {
  const auto header = LoadSourceHeader(source, where);
  const FileHeader& first = source.series->files.front();
  if (first.frame_of_reference_uid.empty()) {
    throw DicomError(first.path, "has no FrameOfReferenceUID, so contour points would refer to nothing");
  }
  DcmDataset& dataset = *header->getDataset();
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
  // Derived series are numbered above the source's (SEG +1000) so viewers list them after it.
  Require(rt.setSeriesNumber(std::to_string(source.series_number + 2000).c_str()), where, "cannot set SeriesNumber");
  Require(rt.setSeriesDescription(("RTSTRUCT " + algorithm_name).c_str()), where, "cannot set SeriesDescription");
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
  Require(roi->setROIName(label.name.c_str()), where, doing);
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

// The label's codes say what the ROI is; who interpreted it (type 2) is left empty for a model.
void AddObservation(DRTStructureSetIOD& rt, const model::Label& label, const std::string& where) {
  const std::string doing = "cannot add the observation of ROI '" + label.name + "'";
  const std::string number = std::to_string(label.value);
  DRTRTROIObservationsSequence::Item* observation = nullptr;
  Require(rt.getRTROIObservationsSequence().addItem(observation), where, doing);
  Require(observation->setObservationNumber(number.c_str()), where, doing);
  Require(observation->setReferencedROINumber(number.c_str()), where, doing);
  Require(observation->setROIObservationLabel(label.name.c_str()), where, doing);
  DRTRTROIIdentificationCodeSequence::Item* type = nullptr;
  Require(observation->getRTROIIdentificationCodeSequence().addItem(type), where, doing);
  SetCode(*type, TypeOf(label), where, doing);
  DRTSegmentedPropertyCategoryCodeSequence::Item* category = nullptr;
  Require(observation->getSegmentedPropertyCategoryCodeSequence().addItem(category), where, doing);
  SetCode(*category, CategoryOf(label), where, doing);
}

// CONTOUR's pixels on mask slice K as patient LPS points at the voxel centres, x\y\z per point.
std::string ContourData(const LabelImage& mask, const Contour& contour, itk::IndexValueType k) {
  std::string data;
  for (const cv::Point& pixel : contour) {
    itk::ContinuousIndex<double, 3> index;
    index[0] = pixel.x;
    index[1] = pixel.y;
    index[2] = static_cast<double>(k);
    LabelImage::PointType point;
    mask.TransformContinuousIndexToPhysicalPoint(index, point);
    for (unsigned axis = 0; axis < 3; ++axis) data += (data.empty() ? "" : "\\") + Ds(point[axis]);
  }
  return data;
}

// Outer borders and hole borders of every 8-connected region of VALUE on mask slice K (the convention
// in rtstruct.h).
std::vector<Contour> SliceContours(const LabelImage& mask, itk::IndexValueType k, uint8_t value) {
  const cv::Mat region = SliceOf(mask, k) == value;
  std::vector<Contour> contours;
  std::vector<cv::Vec4i> hierarchy;
  cv::findContours(region, contours, hierarchy, cv::RETR_CCOMP, cv::CHAIN_APPROX_SIMPLE);
  return contours;
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
    for (const Contour& contour : SliceContours(mask, k, static_cast<uint8_t>(label.value))) {
      DRTContourSequence::Item* item = nullptr;
      Require(roi->getContourSequence().addItem(item), where, doing);
      if (source_slice) AddImage(item->getContourImageSequence(), source.files[source_slice->file], source_slice->frame);
      Require(item->setContourGeometricType("CLOSED_PLANAR"), where, doing);
      Require(item->setNumberOfContourPoints(std::to_string(contour.size()).c_str()), where, doing);
      Require(item->setContourData(ContourData(mask, contour, k).c_str()), where, doing);
    }
  }
}

void Save(DRTStructureSetIOD& rt, const std::string& where) {
  DcmFileFormat file;
  Require(rt.write(*file.getDataset()), where, "cannot encode the structure set");
  Require(file.saveFile(where.c_str(), EXS_LittleEndianExplicit), where, "cannot write the file");
}

// ---- reading ----

// A closed contour as pixel positions on one slice of the reference grid.
struct SlicePolygon {
  itk::IndexValueType slice = 0;
  Contour points;
};

uint8_t RoiValue(const DRTROIContourSequence::Item& roi, const std::string& where) {
  Sint32 number = 0;
  Require(roi.getReferencedROINumber(number), where, "a ROI contour has no ReferencedROINumber");
  if (number < 1 || number > 255) {
    throw DicomError(where, "ROI number " + std::to_string(number) + " cannot be a label value (1 to 255)");
  }
  return static_cast<uint8_t>(number);
}

// Each point rounded to the nearest reference voxel; all must lie on one reference slice.
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
    polygon.points.emplace_back(static_cast<int>(std::lround(index[0])), static_cast<int>(std::lround(index[1])));
  }
  return polygon;
}

// The closed contours of one ROI, grouped by reference slice.
std::map<itk::IndexValueType, std::vector<Contour>> PolygonsBySlice(const DRTROIContourSequence::Item& roi, uint8_t value,
                                                                   const LabelImage& reference, const std::string& where) {
  std::map<itk::IndexValueType, std::vector<Contour>> by_slice;
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

// Even-odd parity of the polygons' insides plus their own boundary voxels (the convention in rtstruct.h).
void PaintSlice(LabelImage& out, itk::IndexValueType slice, const std::vector<Contour>& polygons, uint8_t value) {
  cv::Mat target = SliceOf(out, slice);
  cv::Mat parity = cv::Mat::zeros(target.size(), CV_8U), boundary = parity.clone(), inside = parity.clone();
  for (const Contour& polygon : polygons) {
    inside.setTo(0);
    cv::fillPoly(inside, std::vector<Contour>{polygon}, cv::Scalar(1));
    parity ^= inside;
    cv::polylines(boundary, std::vector<Contour>{polygon}, true, cv::Scalar(1));
  }
  target.setTo(value, parity | boundary);
}

}  // namespace

std::string WriteRtStruct(const LabelImage& mask, const std::vector<model::Label>& labels,
                          const dicom::SourceSeries& source_series, const std::string& algorithm_name,
                          const std::filesystem::path& path) {
  const std::string where = path.string();
  const Series& source = *source_series.series;
  if (labels.empty()) throw ModelError(where, "no labels: a structure set needs at least one ROI");
  SegmentValues(labels, where);  // label values 1..255
  const std::vector<model::Label> present = PresentLabels(mask, labels, where);
  DRTStructureSetIOD rt;
  CopyPatientAndStudy(rt, source_series, where);
  SetSeries(rt, source, algorithm_name, where);
  AddReferencedSeries(rt, source, where);
  for (const model::Label& label : present) {
    AddRoi(rt, label, source, algorithm_name, where);
    AddContours(rt, mask, label, source, where);
    AddObservation(rt, label, where);
  }
  Save(rt, where);
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
