#pragma once
// Small text and DCMTK value helpers shared by the module's sources.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/dcmdata/dcvr.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

inline std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

// All values of TAG joined with '\', or FALLBACK when absent.
inline std::string GetString(DcmItem& item, const DcmTagKey& tag, const std::string& fallback = {}) {
  OFString value;
  return item.findAndGetOFStringArray(tag, value).good() ? std::string(value.c_str()) : fallback;
}

// Known attributes that a writer stored as UN (its dictionary lacked them) are read with the
// dictionary's VR, so that an ImagePositionPatient in UN still places its slice.
inline void ReadUnknownVrWithDictionary() { dcmEnableUnknownVRConversion.set(OFTrue); }

// Where the samples are: PixelData, or the float and double float variants of parametric maps.
inline DcmTagKey PixelDataTag(const PixelLayout& layout) {
  if (!layout.floating) return DCM_PixelData;
  return layout.bits_allocated == 64 ? DCM_DoubleFloatPixelData : DCM_FloatPixelData;
}

}  // namespace medpipe::dicom
