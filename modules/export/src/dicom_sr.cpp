#include "medpipe/export/dicom_sr.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/codes/sct.h>
#include <dcmtk/dcmsr/codes/ucum.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include "export_support.h"

namespace medpipe::exporter {
namespace {

using dicom::FileHeader;
using dicom::Series;
using Report = TID1500_MeasurementReport;

// Probabilities and thresholds are fractions: UCUM's unity.
const DSRBasicCodedEntry kNoUnits("1", "UCUM", "no units");

DSRCodedEntryValue Coded(const model::Code& code) {
  return DSRCodedEntryValue(code.value.c_str(), code.scheme.c_str(), code.meaning.c_str());
}

// A label whose category is "Anatomical Structure" names a body part: that is where it was found.
bool NamesAnatomy(const model::Label& label) {
  const model::Code& category = CategoryOf(label);
  return (category.scheme == "SCT" && category.value == "91723000") ||
         (category.scheme == "SRT" && category.value == "T-D000A");
}

// The series every finding was computed on. The report is filed in one study, so all must share it.
std::vector<const dicom::SourceSeries*> Sources(const std::vector<SegmentationFindings>& segmentations,
                                                const std::vector<ClassificationFinding>& classifications,
                                                const std::string& where) {
  std::vector<const dicom::SourceSeries*> sources;
  for (const SegmentationFindings& findings : segmentations) sources.push_back(findings.source);
  for (const ClassificationFinding& finding : classifications) sources.push_back(finding.source);
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

// A TID 1411 group: the segment, where it came from, its volume and the model that measured it.
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
  if (NamesAnatomy(label)) Require(group.addFindingSite(Coded(TypeOf(label))), where, doing);
  DSRImageReferenceValue seg(UID_SegmentationStorage, findings.seg_sop_instance_uid.c_str());
  seg.getSegmentList().addItem(static_cast<Uint16>(segment.segment_number));
  Require(group.setReferencedSegment(seg), where, doing);
  Require(group.setSourceSeriesForSegmentation(findings.source->series->series_instance_uid.c_str()), where, doing);
  const CMR_TID1411_in_TID1500::MeasurementValue volume(Ds(segment.volume_ml).c_str(),
                                                               DSRCodedEntryValue(CODE_UCUM_ml));
  Require(group.addMeasurement(CMR_CID7469::Volume, volume), where, doing);
  Require(group.getMeasurement().setAlgorithmIdentification(findings.model_name.c_str(), findings.model_version.c_str()),
          where, doing);
}

// CONCEPT = VALUE (a fraction) in GROUP.
void AddFraction(CMR_TID1501_in_TID1500& group, const DSRBasicCodedEntry& concept, double value,
                 const std::string& where, const std::string& doing) {
  const CMR_TID1501_in_TID1500::MeasurementValue fraction(Ds(value).c_str(), DSRCodedEntryValue(kNoUnits));
  Require(group.addMeasurement(CID7469_GenericIntensityAndSizeMeasurements(DSRCodedEntryValue(concept)), fraction), where,
          doing);
}

// A TID 1501 group: the probability of the decided class, inferred from every source image, the
// threshold, the class, and the model (TID 300 has no algorithm identification, so as text).
void AddClassification(Report& report, const ClassificationFinding& finding, const std::string& where) {
  const std::string doing = "cannot add the classification by " + finding.model_name;
  Require(report.addIndividualMeasurements(), where, doing);
  auto& group = report.getIndividualMeasurements();
  Require(group.setTrackingIdentifier((finding.model_name + " classification").c_str()), where, doing);
  Require(group.setTrackingUniqueIdentifier(NewUid().c_str()), where, doing);
  AddFraction(group, CODE_DCM_Probability, finding.probability, where, doing);
  for (const FileHeader& file : finding.source->series->files) {
    Require(group.getMeasurement().addImage(CODE_DCM_SourceOfMeasurement,
                                            DSRImageReferenceValue(file.sop_class_uid.c_str(), file.sop_instance_uid.c_str())),
            where, doing);
  }
  if (finding.threshold) AddFraction(group, CODE_DCM_ThresholdValue, *finding.threshold, where, doing);
  Require(group.addQualitativeEvaluation(CODE_DCM_Finding, finding.class_name.c_str()), where, doing);
  Require(group.addQualitativeEvaluation(CODE_DCM_AlgorithmName, finding.model_name.c_str()), where, doing);
  Require(group.addQualitativeEvaluation(CODE_DCM_AlgorithmVersion, finding.model_version.c_str()), where, doing);
}

// Patient and study are those of the first source; series and instance are new.
void SetHeader(DSRDocument& document, const dicom::SourceSeries& source_series, const std::string& where) {
  const auto header = LoadSourceHeader(source_series, where);
  const Series& source = *source_series.series;
  DcmDataset& dataset = *header->getDataset();
  Require(document.readStudyData(dataset), source.files.front().path, "cannot copy patient and study");
  OFString charset;
  if (dataset.findAndGetOFStringArray(DCM_SpecificCharacterSet, charset).good()) {
    Require(document.setSpecificCharacterSet(charset), where, "cannot set SpecificCharacterSet");
  }
  document.createNewSeries();
  // Derived series are numbered above the source's (SEG +1000, RTSTRUCT +2000) so viewers list them after it.
  Require(document.setSeriesNumber(std::to_string(source.series_number + 3000).c_str()), where, "cannot set SeriesNumber");
  Require(document.setSeriesDescription("Measurement report"), where, "cannot set SeriesDescription");
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

void Save(DSRDocument& document, const std::string& where) {
  DcmFileFormat file;
  Require(document.write(*file.getDataset()), where, "cannot encode the report");
  Require(file.saveFile(where.c_str(), EXS_LittleEndianExplicit), where, "cannot write the file");
}

}  // namespace

std::string WriteMeasurementReport(const std::vector<SegmentationFindings>& segmentations,
                                   const std::vector<ClassificationFinding>& classifications,
                                   const std::filesystem::path& path) {
  const std::string where = path.string();
  const std::vector<const dicom::SourceSeries*> sources = Sources(segmentations, classifications, where);
  Report report(CMR_CID7021::ImagingMeasurementReport);
  StartReport(report, where);
  for (const SegmentationFindings& findings : segmentations) {
    for (const SegmentVolume& segment : findings.segments) AddSegmentVolume(report, findings, segment, where);
  }
  for (const ClassificationFinding& finding : classifications) AddClassification(report, finding, where);
  if (!report.isValid()) throw DicomError(where, "DCMTK finds the TID 1500 content incomplete (isValid)");

  DSRDocument document;
  Require(document.setTreeFromRootTemplate(report), where, "DCMTK rejects the TID 1500 content tree");
  SetHeader(document, *sources.front(), where);
  Require(document.completeDocument(), where, "cannot mark the report complete");
  AddEvidence(document, segmentations, sources, where);
  Save(document, where);
  OFString uid;
  Require(document.getSOPInstanceUID(uid), where, "cannot read back SOPInstanceUID");
  return uid.c_str();
}

}  // namespace medpipe::exporter
