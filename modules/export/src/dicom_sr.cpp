#include "medpipe/export/dicom_sr.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/codes/sct.h>
#include <dcmtk/dcmsr/codes/ucum.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <algorithm>

#include "export_support.h"

namespace medpipe::exporter {
namespace {

using dicom::FileHeader;
using dicom::Series;
using Report = TID1500_MeasurementReport;

// Probabilities and thresholds are fractions: UCUM's unity.
const DSRBasicCodedEntry kNoUnits("1", "UCUM", "no units");
const DSRCodedEntryValue kHounsfield("[hnsf'U]", "UCUM", "Hounsfield unit");
const DSRCodedEntryValue kMean("373098007", "SCT", "Mean");
const DSRCodedEntryValue kPresent("52101004", "SCT", "Present");
const DSRCodedEntryValue kAbsent("2667000", "SCT", "Absent");

DSRCodedEntryValue Coded(const model::Code& code) {
  return DSRCodedEntryValue(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str());
}

// A label whose category is "Anatomical Structure" names a body part: that is where it was found.
bool NamesAnatomy(const model::Label& label) {
  return model::IsAnatomicalCategory(CategoryOf(label));
}

// The series the findings were computed on, each once, in order of first appearance (several models
// may read one series). The report is filed in one study, so all must share it.
std::vector<const dicom::SourceSeries*> Sources(const std::vector<SegmentationFindings>& segmentations,
                                                const std::vector<ClassificationFinding>& classifications,
                                                const std::string& where) {
  std::vector<const dicom::SourceSeries*> sources;
  const auto add = [&](const dicom::SourceSeries* source) {
    if (std::find(sources.begin(), sources.end(), source) == sources.end()) sources.push_back(source);
  };
  for (const SegmentationFindings& findings : segmentations) add(findings.source);
  for (const ClassificationFinding& finding : classifications) add(finding.source);
  if (sources.empty()) throw DicomError(where, "no segmentation or classification findings to report");
  for (const dicom::SourceSeries* source : sources) {
    if (!source || !source->series || source->series->files.empty())
      throw DicomError(where, "a finding has no source series with files");
    const std::string& study = source->series->files.front().study_instance_uid;
    const std::string& first = sources.front()->series->files.front().study_instance_uid;
    if (study != first) {
      throw DicomError(where, "findings come from studies " + first + " and " + study + "; a report covers one study");
    }
  }
  return sources;
}

// What the header pass knows of FILE, as the attributes TID 1602 descriptors are read from.
void ImageDescriptors(const FileHeader& file, DcmItem& item) {
  item.putAndInsertString(DCM_SOPClassUID, file.sop_class_uid.c_str());
  item.putAndInsertString(DCM_SOPInstanceUID, file.sop_instance_uid.c_str());
  item.putAndInsertString(DCM_Modality, file.modality.c_str());
  if (!file.study_date.empty()) item.putAndInsertString(DCM_StudyDate, file.study_date.c_str());
  if (!file.frame_of_reference_uid.empty()) item.putAndInsertString(DCM_FrameOfReferenceUID, file.frame_of_reference_uid.c_str());
  item.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(file.pixels.rows));
  item.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(file.pixels.columns));
  if (file.frames.size() != 1) return;  // multi-frame geometry is per frame, not one descriptor
  const dicom::FrameInfo& frame = file.frames.front();
  const auto decimals = [](const auto& values) {
    std::string text;
    for (double value : values) text += (text.empty() ? "" : "\\") + Ds(value);
    return text;
  };
  if (frame.position) item.putAndInsertString(DCM_ImagePositionPatient, decimals(*frame.position).c_str());
  if (frame.orientation) item.putAndInsertString(DCM_ImageOrientationPatient, decimals(*frame.orientation).c_str());
  if (frame.pixel_spacing) item.putAndInsertString(DCM_PixelSpacing, decimals(*frame.pixel_spacing).c_str());
}

void StartReport(Report& report, const std::string& where) {
  Require(report.setLanguage(CID5000_Languages::English), where, "cannot set the language");
  // TID 1500 needs an observer: the device medpipe, under a new UID as medpipe has no UID root of its
  // own. Each measurement names the model that made it.
  Require(report.getObservationContext().addDeviceObserver(NewUid().c_str(), "medpipe", "medpipe",
                                                           "medpipe " MEDPIPE_VERSION),
          where, "cannot set the observer");
  Require(report.addProcedureReported(CID100_QuantitativeDiagnosticImagingProcedures(
              DSRCodedEntryValue(CODE_SCT_ImagingProcedure))),
          where, "cannot set the procedure reported");
}

// TID 4019: the model's name, version and model.pt's sha256 as its parameter.
void Identify(TID4019_AlgorithmIdentification& identification, const ModelIdentity& model, const std::string& where,
              const std::string& doing) {
  Require(identification.setIdentification(model.name.c_str(), model.version.c_str()), where, doing);
  Require(identification.addParameter(("model.pt sha256 " + model.sha256).c_str()), where, doing);
}

// A TID 1411 group: the segment, where it came from, its volume and mean intensity, and the model that
// measured them.
void AddSegmentVolume(Report& report, const SegmentationFindings& findings, const SegmentVolume& segment,
                      const std::string& where) {
  const model::Label& label = segment.label;
  const std::string doing = "cannot add segment " + std::to_string(segment.segment_number) + " ('" + label.name + "')";
  if (segment.segment_number < 1 || segment.segment_number > 65535) throw DicomError(where, doing + ": bad segment number");
  Require(report.addVolumetricROIMeasurements(), where, doing);
  auto& group = report.getVolumetricROIMeasurements();
  Require(group.setTrackingIdentifier(label.name.c_str()), where, doing);
  Require(group.setTrackingUniqueIdentifier(NewUid().c_str()), where, doing);
  Require(group.setFinding(Coded(TypeOf(label))), where, doing);
  if (NamesAnatomy(label)) {
    const auto side = model::LateralityCode(label.laterality);
    Require(group.addFindingSite(Coded(TypeOf(label)),
                                 side ? CID244e_Laterality(Coded(*side)) : CID244e_Laterality(),
                                 label.modifier ? Coded(*label.modifier) : DSRCodedEntryValue()),
            where, doing);
  }
  DSRImageReferenceValue seg(UID_SegmentationStorage, findings.seg_sop_instance_uid.c_str());
  seg.getSegmentList().addItem(static_cast<Uint16>(segment.segment_number));
  Require(group.setReferencedSegment(seg), where, doing);
  Require(group.setSourceSeriesForSegmentation(findings.source->series->series_instance_uid.c_str()), where, doing);
  const auto add = [&](const CMR_CID7469& concept, double value, const DSRCodedEntryValue& unit) {
    const CMR_TID1411_in_TID1500::MeasurementValue number(Ds(value).c_str(), unit);
    Require(group.addMeasurement(concept, number), where, doing);
    Identify(group.getMeasurement().getAlgorithmIdentification(), findings.model, where, doing);
  };
  add(CMR_CID7469::Volume, segment.volume_ml, DSRCodedEntryValue(CODE_UCUM_ml));
  if (segment.mean) {
    add(CMR_CID7469(kMean), segment.mean->value, segment.mean->hounsfield ? kHounsfield : DSRCodedEntryValue(kNoUnits));
  }
}

// CONCEPT = VALUE (a fraction) in GROUP, identified as made by MODEL from every image of SOURCE.
void AddFraction(CMR_TID1501_in_TID1500& group, const DSRBasicCodedEntry& concept, double value, const ModelIdentity& model,
                 const dicom::Series& source, const std::string& where, const std::string& doing) {
  const CMR_TID1501_in_TID1500::MeasurementValue fraction(Ds(value).c_str(), DSRCodedEntryValue(kNoUnits));
  Require(group.addMeasurement(CID7469_GenericIntensityAndSizeMeasurements(DSRCodedEntryValue(concept)), fraction), where,
          doing);
  auto& measurement = group.getMeasurement();
  for (const FileHeader& file : source.files) {
    Require(measurement.addImage(CODE_DCM_SourceOfMeasurement,
                                 DSRImageReferenceValue(file.sop_class_uid.c_str(), file.sop_instance_uid.c_str())),
            where, doing);
  }
  // TID 300 has no setter for TID 4019: its items go below the measurement as concept modifiers.
  TID4019_AlgorithmIdentification identification;
  Identify(identification, model, where, doing);
  measurement.gotoRoot();
  Require(measurement.insertExtraTemplate(identification, DSRTypes::AM_belowCurrent, DSRTypes::RT_hasConceptMod), where,
          doing);
}

// A TID 1501 group about the decided class (dicom_sr.h): its probability, the threshold that applies
// to it, and present or absent as the decision says.
void AddClassification(Report& report, const ClassificationFinding& finding, const std::string& where) {
  const Decision& decision = finding.decision;
  const std::string doing = "cannot add the classification by " + finding.model.name;
  Require(report.addIndividualMeasurements(), where, doing);
  auto& group = report.getIndividualMeasurements();
  Require(group.setTrackingIdentifier((finding.model.name + ": " + decision.class_name).c_str()), where, doing);
  Require(group.setTrackingUniqueIdentifier(NewUid().c_str()), where, doing);
  const bool coded = !finding.finding.value.empty();
  if (coded) Require(group.setFinding(Coded(finding.finding)), where, doing);
  const dicom::Series& source = *finding.source->series;
  AddFraction(group, CODE_DCM_Probability, decision.probability, finding.model, source, where, doing);
  if (decision.threshold) AddFraction(group, CODE_DCM_ThresholdValue, *decision.threshold, finding.model, source, where, doing);
  if (coded) {
    const bool absent = decision.verdict == Verdict::Negative;
    Require(group.addQualitativeEvaluation(Coded(finding.finding), absent ? kAbsent : kPresent), where, doing);
  } else {
    const std::string text = decision.class_name + ": " + VerdictName(decision.verdict);
    Require(group.addQualitativeEvaluation(CODE_DCM_Finding, text.c_str()), where, doing);
  }
}

// TID 1600: one image group listing every source image with what the header pass knows of it.
void AddImageLibrary(Report& report, const std::vector<const dicom::SourceSeries*>& sources, const std::string& where) {
  TID1600_ImageLibrary& library = report.getImageLibrary();
  Require(library.createNewImageLibrary(), where, "cannot create the image library");
  Require(library.addImageGroup(), where, "cannot add the image library group");
  for (const dicom::SourceSeries* source : sources) {
    for (const FileHeader& file : source->series->files) {
      DcmItem descriptors;
      ImageDescriptors(file, descriptors);
      Require(library.addImageEntry(descriptors, TID1600_ImageLibrary::withAllDescriptors), file.path,
              "cannot list in the image library of " + where);
    }
  }
}

// Patient and study are those of the first source; series and instance are new.
void SetHeader(DSRDocument& document, const Series& source, DcmDataset& dataset, const std::string& where) {
  Require(document.readStudyData(dataset), source.files.front().path, "cannot copy patient and study");
  OFString charset;
  if (dataset.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset).good()) {
    Require(document.setSpecificCharacterSet(charset), where, "cannot set SpecificCharacterSet");
  }
  document.createNewSeries();
  Require(document.setSeriesNumber(std::to_string(source.series_number + kReportSeries).c_str()), where,
          "cannot set SeriesNumber");
  Require(document.setSeriesDescription(DerivedSeriesDescription("Measurements", source).c_str()), where,
          "cannot set SeriesDescription");
  Require(document.setInstanceNumber("1"), where, "cannot set InstanceNumber");
  Require(document.setManufacturer("medpipe"), where, "cannot set Manufacturer");
  Require(document.setSoftwareVersions(MEDPIPE_VERSION), where, "cannot set SoftwareVersions");
}

// Every instance the content references: the SEG objects and the source images.
void AddEvidence(DSRDocument& document, const std::vector<SegmentationFindings>& segmentations,
                 const std::vector<const dicom::SourceSeries*>& sources, const std::string& where) {
  DSRSOPInstanceReferenceList& evidence = document.getCurrentRequestedProcedureEvidence();
  const std::string& study = sources.front()->series->files.front().study_instance_uid;
  for (const SegmentationFindings& findings : segmentations) {
    Require(evidence.addItem(study.c_str(), findings.seg_series_instance_uid.c_str(), UID_SegmentationStorage,
                             findings.seg_sop_instance_uid.c_str()),
            where, "cannot list SEG " + findings.seg_sop_instance_uid + " as evidence");
  }
  for (const dicom::SourceSeries* source : sources) {
    for (const FileHeader& file : source->series->files) {
      Require(evidence.addItem(study.c_str(), file.series_instance_uid.c_str(), file.sop_class_uid.c_str(),
                               file.sop_instance_uid.c_str()),
              file.path, "cannot list as evidence in " + where);
    }
  }
}

// Encodes DOCUMENT at WHERE under new 2.25 series and instance UIDs (DSRDocument issues them under
// DCMTK's root and has no setter), with the de-identification marks of the sources' HEADERS. Returns
// the instance UID.
std::string Save(DSRDocument& document, const std::vector<std::unique_ptr<DcmFileFormat>>& headers,
                 const std::string& where) {
  DcmFileFormat file;
  DcmDataset& dataset = *file.getDataset();
  Require(document.write(dataset), where, "cannot encode the report");
  const std::string uid = NewUid();
  Require(dataset.putAndInsertString(DCM_SOPInstanceUID, uid.c_str()), where, "cannot set SOPInstanceUID");
  Require(dataset.putAndInsertString(DCM_SeriesInstanceUID, NewUid().c_str()), where, "cannot set SeriesInstanceUID");
  for (const auto& header : headers) CopyDeidentification(*header->getDataset(), dataset, where);
  Require(file.saveFile(where.c_str(), EXS_LittleEndianExplicit), where, "cannot write the file");
  return uid;
}

}  // namespace

std::string WriteMeasurementReport(const std::vector<SegmentationFindings>& segmentations,
                                   const std::vector<ClassificationFinding>& classifications,
                                   const std::filesystem::path& path) {
  const std::string where = path.string();
  const std::vector<const dicom::SourceSeries*> sources = Sources(segmentations, classifications, where);
  Report report(CMR_CID7021::ImagingMeasurementReport);
  StartReport(report, where);
  AddImageLibrary(report, sources, where);
  for (const SegmentationFindings& findings : segmentations) {
    for (const SegmentVolume& segment : findings.segments) AddSegmentVolume(report, findings, segment, where);
  }
  for (const ClassificationFinding& finding : classifications) AddClassification(report, finding, where);
  if (!report.isValid()) throw DicomError(where, "DCMTK finds the TID 1500 content incomplete (isValid)");

  DSRDocument document;
  Require(document.setTreeFromRootTemplate(report), where, "DCMTK rejects the TID 1500 content tree");
  // Each source's re-encoded header, parsed once: the first gives patient and study, all their marks.
  std::vector<std::unique_ptr<DcmFileFormat>> headers;
  for (const dicom::SourceSeries* source : sources) headers.push_back(dicom::ParseSourceHeader(*source));
  SetHeader(document, *sources.front()->series, *headers.front()->getDataset(), where);
  Require(document.completeDocument(), where, "cannot mark the report complete");
  AddEvidence(document, segmentations, sources, where);
  return Save(document, headers, where);
}

}  // namespace medpipe::exporter
