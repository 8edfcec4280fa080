#pragma once
// Small text and DCMTK value helpers shared by the module's sources.
#include <dcmtk/dcmdata/dcitem.h>

#include <algorithm>
#include <cctype>
#include <string>

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

}  // namespace medpipe::dicom
