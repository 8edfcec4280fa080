#include "medpipe/export/deidentify.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/dcmdata/dcsequen.h>

#include <set>

#include "export_support.h"
#include "medpipe/dicom/source_series.h"

namespace medpipe::exporter {
namespace {

// Emptied (Z): type 2 in the modules medpipe writes, so they stay, without a value.
const std::set<DcmTagKey> kEmptied = {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex,
                                      DCM_StudyDate, DCM_StudyTime, DCM_AccessionNumber, DCM_ReferringPhysicianName,
                                      DCM_StudyID};
// Removed (X): optional in those modules.
const std::set<DcmTagKey> kRemoved = {
    DCM_PatientAge, DCM_PatientSize, DCM_PatientWeight, DCM_OtherPatientIDsSequence, DCM_OtherPatientNames,
    DCM_PatientAddress, DCM_PatientComments, DCM_PatientBirthTime, DCM_EthnicGroup, DCM_InstitutionName,
    DCM_InstitutionAddress, DCM_InstitutionalDepartmentName, DCM_StationName, DCM_OperatorsName,
    DCM_PerformingPhysicianName, DCM_NameOfPhysiciansReadingStudy, DCM_StudyDescription, DCM_SeriesDescription,
    DCM_SeriesDate, DCM_SeriesTime, DCM_AcquisitionDate, DCM_AcquisitionTime, DCM_InstanceCreationDate,
    DCM_InstanceCreationTime, DCM_IssuerOfPatientID};
// Replaced by a dummy (D): type 1 dates and times of the SR and SEG instances.
const std::set<DcmTagKey> kDummyDate = {DCM_ContentDate, DCM_StructureSetDate};
const std::set<DcmTagKey> kDummyTime = {DCM_ContentTime, DCM_StructureSetTime};
// Dates of an object medpipe makes (removed, X): when it was made says when the patient was seen.
const std::set<DcmTagKey> kOwnDates = {DCM_InstanceCreationDate, DCM_InstanceCreationTime, DCM_SeriesDate, DCM_SeriesTime};
// Replaced consistently (U).
const std::set<DcmTagKey> kUids = {DCM_StudyInstanceUID, DCM_SeriesInstanceUID, DCM_SOPInstanceUID,
                                   DCM_MediaStorageSOPInstanceUID, DCM_FrameOfReferenceUID,
                                   DCM_ReferencedSOPInstanceUID, DCM_ReferencedFrameOfReferenceUID,
                                   DCM_RETIRED_RelatedFrameOfReferenceUID, DCM_DimensionOrganizationUID, DCM_UID};

void Set(DcmElement& element, const char* value, const std::string& where) {
  Require(element.putString(value), where, "cannot de-identify " + std::string(element.getTag().toString().c_str()));
}

// Applies the profile to every element of ITEM, into its sequences.
void Deidentify(DcmItem& item, const std::string& where) {
  for (unsigned long i = item.card(); i-- > 0;) {
    DcmElement* element = item.getElement(i);
    const DcmTagKey tag = element->getTag();
    if (kRemoved.count(tag)) {
      delete item.remove(element);
    } else if (kEmptied.count(tag)) {
      Set(*element, "", where);
    } else if (kDummyDate.count(tag)) {
      Set(*element, "19000101", where);
    } else if (kDummyTime.count(tag)) {
      Set(*element, "000000", where);
    } else if (kUids.count(tag)) {
      OFString uid;
      if (element->getOFStringArray(uid).good() && !uid.empty()) Set(*element, DeidentifiedUid(uid.c_str()).c_str(), where);
    } else if (auto* sequence = dynamic_cast<DcmSequenceOfItems*>(element)) {
      for (unsigned long k = 0; k < sequence->card(); ++k) Deidentify(*sequence->getItem(k), where);
    }
  }
}

void MarkDeidentified(DcmItem& dataset, const std::string& where) {
  Require(dataset.putAndInsertString(DCM_PatientIdentityRemoved, "YES"), where, "cannot mark as de-identified");
  Require(dataset.putAndInsertString(DCM_DeidentificationMethod, "DICOM PS3.15 E.1 Basic Profile (medpipe)"), where,
          "cannot mark as de-identified");
  DcmItem* code = nullptr;
  Require(dataset.findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence, code, -2), where,
          "cannot mark as de-identified");
  Require(code->putAndInsertString(DCM_CodeValue, "113100"), where, "cannot mark as de-identified");
  Require(code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM"), where, "cannot mark as de-identified");
  Require(code->putAndInsertString(DCM_CodeMeaning, "Basic Application Confidentiality Profile"), where,
          "cannot mark as de-identified");
}

}  // namespace

void ReplaceOwnDates(DcmItem& output, const std::string& where) {
  for (unsigned long i = output.card(); i-- > 0;) {
    DcmElement* element = output.getElement(i);
    const DcmTagKey tag = element->getTag();
    if (kOwnDates.count(tag)) {
      delete output.remove(element);
    } else if (kDummyDate.count(tag)) {
      Set(*element, "19000101", where);
    } else if (kDummyTime.count(tag)) {
      Set(*element, "000000", where);
    }
  }
}

std::string DeidentifiedHeader(const dicom::SourceSeries& source) {
  const std::string where = source.series->files.empty() ? source.series->id : source.series->files.front().path;
  const auto file = dicom::ParseSourceHeader(source);
  Deidentify(*file->getMetaInfo(), where);
  Deidentify(*file->getDataset(), where);
  MarkDeidentified(*file->getDataset(), where);
  return dicom::EncodeSourceHeader(*file, where);
}

dicom::Series DeidentifiedSeries(dicom::Series series) {
  const auto replace = [](std::string& uid) {
    if (!uid.empty()) uid = DeidentifiedUid(uid);
  };
  replace(series.series_instance_uid);
  series.description.clear();
  for (dicom::FileHeader& file : series.files) {
    for (std::string* uid : {&file.sop_instance_uid, &file.study_instance_uid, &file.series_instance_uid,
                             &file.frame_of_reference_uid})
      replace(*uid);
    file.series_description.clear();
    file.study_date.clear();
  }
  return series;
}

}  // namespace medpipe::exporter
