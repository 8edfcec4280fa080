#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcvrda.h>
#include <dcmtk/dcmdata/dcvrtm.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/cielabutil.h>
#include <dcmtk/dcmiod/iodreferences.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <array>
#include <cmath>
#include <limits>
#include <memory>

#include "medpipe/export/dicom_seg.h"
#include "export_support.h"

namespace medpipe::exporter {
namespace {

using dicom::FileHeader;
using dicom::Series;
using dicom::SliceRef;

CodeSequenceMacro Macro(const model::Code& code) {
  return CodeSequenceMacro(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str());
}

std::unique_ptr<DcmSegmentation> CreateSegmentation(const LabelImage& mask, const SegAlgorithm& algorithm,
                                                    const std::string& where) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  constexpr auto kMaxMatrix = std::numeric_limits<Uint16>::max();
  if (size[0] > kMaxMatrix || size[1] > kMaxMatrix) {
    throw DicomError(where, "mask slices of " + std::to_string(size[0]) + " x " + std::to_string(size[1]) +
                                " voxels exceed the 65535 rows and columns DICOM allows");
  }
  if (algorithm.name.empty() || algorithm.version.empty()) {
    throw ModelError(where, "a SEG of an automatic segmentation needs the model's name and version");
  }
  // The model is the device that made the content: medpipe is the manufacturer, the model's name and
  // version identify the model and this copy of it.
  const IODGeneralEquipmentModule::EquipmentInfo equipment("medpipe", algorithm.name.c_str(),
                                                           algorithm.version.c_str(), MEDPIPE_VERSION);
  // A person name needs a component separator (else it reads as the retired ACR-NEMA form): the model
  // is the family name, its version the given name.
  const ContentIdentificationMacro content("1", "SEGMENTATION", ("medpipe " + algorithm.name + " " + algorithm.version).c_str(),
                                           (algorithm.name + "^" + algorithm.version).c_str());
  DcmSegmentation* created = nullptr;
  Require(DcmSegmentation::createBinarySegmentation(created, static_cast<Uint16>(size[1]), static_cast<Uint16>(size[0]),
                                                    equipment, content),
          where, "cannot create the segmentation");
  return std::unique_ptr<DcmSegmentation>(created);
}

// Patient, study and frame of reference are those of the source.
void ImportSource(DcmSegmentation& seg, const Series& source, DcmDataset& header) {
  const FileHeader& first = source.files.front();
  if (first.frame_of_reference_uid.empty()) {
    throw DicomError(first.path, "has no FrameOfReferenceUID, so SEG frame positions would refer to nothing");
  }
  Require(seg.importHierarchy(header, OFTrue, OFTrue, OFTrue, OFFalse), first.path,
          "cannot import patient, study and frame of reference");
}

// A new series of one new instance, named after the model.
void SetSeries(DcmSegmentation& seg, const Series& source, const SegAlgorithm& algorithm, const std::string& where) {
  Require(seg.getSeries().setSeriesInstanceUID(NewUid().c_str()), where, "cannot set SeriesInstanceUID");
  Require(seg.getSOPCommon().setSOPInstanceUID(NewUid().c_str()), where, "cannot set SOPInstanceUID");
  Require(seg.getSegmentationSeriesModule().setSeriesNumber(std::to_string(source.series_number + kSegSeries).c_str()),
          where, "cannot set SeriesNumber");
  Require(seg.getSeries().setSeriesDescription(DerivedSeriesDescription("SEG " + algorithm.name, source).c_str()), where,
          "cannot set SeriesDescription");
  OFString date, time;
  DcmDate::getCurrentDate(date);
  DcmTime::getCurrentTime(time);
  Require(seg.getGeneralImage().setContentDate(date), where, "cannot set ContentDate");
  Require(seg.getGeneralImage().setContentTime(time), where, "cannot set ContentTime");
}

// Orientation, pixel spacing and thickness are the same for every frame of a mask grid.
void AddSharedGeometry(DcmSegmentation& seg, const LabelImage& mask, const std::string& where) {
  const auto& d = mask.GetDirection();
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal(
      Ds(d[0][0]).c_str(), Ds(d[1][0]).c_str(), Ds(d[2][0]).c_str(), Ds(d[0][1]).c_str(), Ds(d[1][1]).c_str(),
      Ds(d[2][1]).c_str()));
  if (!orientation) throw DicomError(where, "cannot encode the mask orientation");
  Require(seg.addForAllFrames(*orientation), where, "cannot add the plane orientation");

  const auto& spacing = mask.GetSpacing();
  FGPixelMeasures measures;
  // PixelSpacing is between rows (y) first, then between columns (x).
  Require(measures.setPixelSpacing((Ds(spacing[1]) + "\\" + Ds(spacing[0])).c_str()), where, "cannot set PixelSpacing");
  Require(measures.setSliceThickness(Ds(spacing[2]).c_str()), where, "cannot set SliceThickness");
  Require(measures.setSpacingBetweenSlices(Ds(spacing[2]).c_str()), where, "cannot set SpacingBetweenSlices");
  Require(seg.addForAllFrames(measures), where, "cannot add the pixel measures");
}

// Frames are indexed by segment, then by position, as viewers expect of a SEG.
void AddDimensions(DcmSegmentation& seg, const std::string& where) {
  const std::string organisation = NewUid();
  IODMultiframeDimensionModule& dimensions = seg.getDimensions();
  Require(dimensions.addDimensionIndex(DCM_ReferencedSegmentNumber, organisation.c_str(),
                                       DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
          where, "cannot add the segment dimension");
  Require(dimensions.addDimensionIndex(DCM_ImagePositionPatient, organisation.c_str(), DCM_PlanePositionSequence,
                                       "ImagePositionPatient"),
          where, "cannot add the position dimension");
}

Uint16 AddSegment(DcmSegmentation& seg, const model::Label& label, const SegAlgorithm& algorithm,
                  const std::string& where) {
  const std::string doing = "cannot add segment '" + label.name + "'";
  DcmSegment* created = nullptr;
  Require(DcmSegment::create(created, label.name.c_str(), Macro(CategoryOf(label)),
                             Macro(TypeOf(label)), DcmSegTypes::SAT_AUTOMATIC, algorithm.name.c_str()),
          where, doing);
  std::unique_ptr<DcmSegment> segment(created);
  // The part (e.g. anterior) and the side tell apart segments of one type; dcmqi codes both here.
  OFVector<CodeSequenceMacro*>& modifiers = segment->getSegmentedPropertyTypeModifierCode();
  if (label.modifier) modifiers.push_back(new CodeSequenceMacro(Macro(*label.modifier)));
  if (const auto side = model::LateralityCode(label.laterality)) modifiers.push_back(new CodeSequenceMacro(Macro(*side)));
  const std::string description = model::StructureText(label);
  if (!description.empty()) Require(segment->setSegmentDescription(description.c_str()), where, doing);
  double l = 0, a = 0, b = 0;
  IODCIELabUtil::rgb2DicomLab(l, a, b, label.colour[0] / 255.0, label.colour[1] / 255.0, label.colour[2] / 255.0);
  Require(segment->setRecommendedDisplayCIELabValue(static_cast<Uint16>(std::lround(l)), static_cast<Uint16>(std::lround(a)),
                                                    static_cast<Uint16>(std::lround(b))),
          where, doing);
  AlgorithmIdentificationMacro& identification = segment->getSegmentationAlgorithmIdentification();
  Require(identification.getAlgorithmFamilyCode().set("123110", "DCM", "Artificial Intelligence"), where, doing);
  Require(identification.setAlgorithmName(algorithm.name.c_str()), where, doing);
  Require(identification.setAlgorithmVersion(algorithm.version.c_str()), where, doing);
  Uint16 number = 0;
  Require(seg.addSegment(segment.get(), number), where, doing);
  segment.release();  // owned by SEG now
  return number;
}

std::unique_ptr<FGDerivationImage> Derivation(const Series& source, const SliceRef& slice, const std::string& where) {
  const FileHeader& file = source.files[slice.file];
  ImageSOPInstanceReferenceMacro reference;
  Require(reference.setReferencedSOPClassUID(file.sop_class_uid.c_str()), file.path, "cannot reference SOPClassUID");
  Require(reference.setReferencedSOPInstanceUID(file.sop_instance_uid.c_str()), file.path,
          "cannot reference SOPInstanceUID");
  if (file.frames.size() > 1) {
    Require(reference.addReferencedFrameNumber(static_cast<Uint16>(slice.frame + 1)), file.path,
            "cannot reference the frame");
  }
  std::unique_ptr<FGDerivationImage> derivation(FGDerivationImage::createMinimal(
      OFVector<ImageSOPInstanceReferenceMacro>(1, reference), "",
      CodeSequenceMacro("113076", "DCM", "Segmentation"),
      CodeSequenceMacro("121322", "DCM", "Source image for image processing operation")));
  if (!derivation) throw DicomError(where, "cannot reference source image " + file.path);
  return derivation;
}

// Per-slice functional groups, shared by every segment's frame at that slice.
struct SliceGroups {
  FGPlanePosPatient position;
  // Empty where no source slice lies: the Derivation Image Sequence must then be present but empty.
  std::unique_ptr<FGDerivationImage> derivation = std::make_unique<FGDerivationImage>();
};

std::vector<SliceGroups> PerSliceGroups(const LabelImage& mask, const Series& source, const std::string& where) {
  std::vector<SliceGroups> groups(mask.GetLargestPossibleRegion().GetSize()[2]);
  for (size_t k = 0; k < groups.size(); ++k) {
    const auto corner = SliceCorner(mask, k);
    Require(groups[k].position.setImagePositionPatient(Ds(corner[0]).c_str(), Ds(corner[1]).c_str(), Ds(corner[2]).c_str()),
            where, "cannot set the position of slice " + std::to_string(k));
    if (const auto slice = SourceSliceOf(source, mask, k)) groups[k].derivation = Derivation(source, *slice, where);
  }
  return groups;
}

// Slice K of MASK as one byte per pixel, 1 where the mask is VALUE: rows are y, columns x.
std::vector<Uint8> FramePixels(const LabelImage& mask, size_t k, uint8_t value) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  const size_t plane = size[0] * size[1];
  const uint8_t* slice = mask.GetBufferPointer() + k * plane;
  std::vector<Uint8> pixels(plane);
  for (size_t i = 0; i < plane; ++i) pixels[i] = slice[i] == value ? 1 : 0;
  return pixels;
}

void AddFrames(DcmSegmentation& seg, const LabelImage& mask, Uint16 segment, uint8_t value,
               std::vector<SliceGroups>& slices, const std::string& where) {
  FGFrameContent content;
  for (size_t k = 0; k < slices.size(); ++k) {
    Require(content.setDimensionIndexValues(segment, 0), where, "cannot index the frame");
    Require(content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1), where, "cannot index the frame");
    OFVector<FGBase*> groups{&content, &slices[k].position, slices[k].derivation.get()};
    std::vector<Uint8> pixels = FramePixels(mask, k, value);
    Require(seg.addFrame(pixels.data(), segment, groups), where,
            "cannot add frame of segment " + std::to_string(segment) + " at slice " + std::to_string(k));
  }
}

// Every instance of the source series is listed in ReferencedSeriesSequence.
void AddReferencedSeries(DcmSegmentation& seg, const Series& source, const std::string& where) {
  IODReferences references;
  for (const FileHeader& file : source.files) {
    auto reference = std::make_unique<IODReference>(IODReference::LEVEL_SERIES);
    reference->m_StudyInstanceUID = file.study_instance_uid.c_str();
    reference->m_SeriesInstanceUID = file.series_instance_uid.c_str();
    reference->m_SOPClassUID = file.sop_class_uid.c_str();
    reference->m_SOPInstanceUID = file.sop_instance_uid.c_str();
    if (!references.add(reference.get())) throw DicomError(file.path, "cannot be referenced from the SEG");
    reference.release();  // owned by REFERENCES now
  }
  if (seg.getCommonInstanceReference().addReferences(references, source.files.front().study_instance_uid.c_str()) !=
      references.size()) {
    throw DicomError(where, "cannot reference every instance of source series " + source.series_instance_uid);
  }
}

// A voxel value that no label names would silently vanish from the SEG.
void RequireNamedValues(const LabelImage& mask, const std::vector<uint8_t>& values, const std::string& where) {
  std::array<bool, 256> named{};
  named[0] = true;
  for (uint8_t value : values) named[value] = true;
  const uint8_t* voxels = mask.GetBufferPointer();
  for (size_t i = 0; i < mask.GetPixelContainer()->Size(); ++i) {
    if (!named[voxels[i]]) {
      throw ModelError(where, "mask holds value " + std::to_string(voxels[i]) + " that no label names");
    }
  }
}

void Save(DcmSegmentation& seg, DcmItem& source_header, const std::string& where) {
  DcmFileFormat file;
  Require(seg.writeDataset(*file.getDataset()), where, "cannot encode the segmentation");
  CopyDeidentification(source_header, *file.getDataset(), where);
  // Segments come from one label image, so no voxel is in two of them; dcmseg does not write this.
  Require(file.getDataset()->putAndInsertString(DCM_SegmentsOverlap, "NO"), where, "cannot set SegmentsOverlap");
  Require(file.saveFile(where.c_str(), EXS_LittleEndianExplicit), where, "cannot write the file");
}

}  // namespace

WrittenObject WriteDicomSeg(const LabelImage& mask, const std::vector<model::Label>& labels,
                            const dicom::SourceSeries& source_series, const SegAlgorithm& algorithm,
                            const std::filesystem::path& path) {
  const std::string where = path.string();
  const Series& source = *source_series.series;
  if (source.files.empty()) throw DicomError(where, "source series " + source.id + " has no files");
  const std::vector<uint8_t> values = SegmentValues(labels, where);
  RequireNamedValues(mask, values, where);

  const auto seg = CreateSegmentation(mask, algorithm, where);
  const auto header = dicom::ParseSourceHeader(source_series);
  ImportSource(*seg, source, *header->getDataset());
  SetSeries(*seg, source, algorithm, where);
  AddSharedGeometry(*seg, mask, where);
  AddDimensions(*seg, where);
  std::vector<SliceGroups> slices = PerSliceGroups(mask, source, where);
  for (size_t i = 0; i < labels.size(); ++i) {
    AddFrames(*seg, mask, AddSegment(*seg, labels[i], algorithm, where), values[i], slices, where);
  }
  AddReferencedSeries(*seg, source, where);
  Save(*seg, *header->getDataset(), where);

  OFString instance, series;
  Require(seg->getSOPCommon().getSOPInstanceUID(instance), where, "cannot read back SOPInstanceUID");
  Require(seg->getSeries().getSeriesInstanceUID(series), where, "cannot read back SeriesInstanceUID");
  return {instance.c_str(), series.c_str()};
}

}  // namespace medpipe::exporter
