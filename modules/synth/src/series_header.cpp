#include "series_header.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>

#include "medpipe/core/error.h"
#include "synthetic_uid.h"

namespace medpipe::synth {

namespace {
// Fixed date and time keep regenerated files byte-identical.
constexpr const char* kDate = "20240101";
constexpr const char* kTime = "120000";
}  // namespace

void PutString(DcmItem& item, const DcmTagKey& tag, const std::string& value) {
  const OFCondition status = item.putAndInsertString(tag, value.c_str());
  if (status.bad()) {
    throw InternalError(DcmTag(tag).getTagName(), "cannot set value '" + value + "': " + status.text());
  }
}

void PutSeriesHeader(DcmItem& item, const SeriesIdentity& identity, int instance_number) {
  const auto uid = [&](UidRole role) { return SyntheticUid(identity.uid_code, identity.seed, role, instance_number); };
  PutString(item, DCM_SOPClassUID, identity.sop_class_uid);
  PutString(item, DCM_SOPInstanceUID, uid(UidRole::Instance));

  PutString(item, DCM_PatientName, identity.patient_name);
  PutString(item, DCM_PatientID, "SYNTH-" + identity.modality + "-" + std::to_string(identity.seed));
  PutString(item, DCM_PatientBirthDate, "");
  PutString(item, DCM_PatientSex, "O");

  PutString(item, DCM_StudyInstanceUID, uid(UidRole::Study));
  PutString(item, DCM_StudyDate, kDate);
  PutString(item, DCM_StudyTime, kTime);
  PutString(item, DCM_StudyID, "1");
  PutString(item, DCM_AccessionNumber, "");
  PutString(item, DCM_ReferringPhysicianName, "");
  PutString(item, DCM_StudyDescription, "Synthetic " + identity.modality);

  PutString(item, DCM_SeriesInstanceUID, uid(UidRole::Series));
  PutString(item, DCM_Modality, identity.modality);
  PutString(item, DCM_SeriesNumber, "1");
  PutString(item, DCM_SeriesDate, kDate);
  PutString(item, DCM_SeriesTime, kTime);
  PutString(item, DCM_SeriesDescription, identity.series_description);
  PutString(item, DCM_BodyPartExamined, identity.body_part);
  PutString(item, DCM_Manufacturer, "medpipe synth");

  PutString(item, DCM_InstanceNumber, std::to_string(instance_number));
  PutString(item, DCM_ContentDate, kDate);
  PutString(item, DCM_ContentTime, kTime);
  PutString(item, DCM_BurnedInAnnotation, "NO");
  PutString(item, DCM_LossyImageCompression, "00");
}

}  // namespace medpipe::synth
