#pragma once
#include <cstdint>
#include <string>

class DcmItem;
class DcmTagKey;

namespace medpipe::synth {

// What tells one synthetic series from another; UIDs derive from uid_code and seed.
struct SeriesIdentity {
  int uid_code = 0;
  uint32_t seed = 0;
  std::string sop_class_uid;
  std::string modality;
  std::string patient_name;
  std::string series_description;
  std::string body_part;
};

// Puts one attribute from its DICOM string form; DCMTK parses numbers for numeric VRs.
void PutString(DcmItem& item, const DcmTagKey& tag, const std::string& value);

// SOP common, patient, study, series, equipment and general image attributes for one instance.
void PutSeriesHeader(DcmItem& item, const SeriesIdentity& identity, int instance_number);

}  // namespace medpipe::synth
