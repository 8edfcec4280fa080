#pragma once
// Siemens CSA headers (the private CSAImageHeaderInfo, "SIEMENS CSA HEADER" (0029,xx10)), CSA2 ("SV10")
// and the older CSA1 (no signature, item lengths offset by an item count, as nibabel reads them): named
// elements, each a list of values as the scanner wrote them (decimal text). DCMTK does not parse them,
// and GDCM's gdcm::CSAHeader asserts (aborts) on anonymised headers such as nibabel's
// csa_slice_norm.dcm, so this small reader follows the layout nibabel's csareader reads.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace medpipe::dicom {

// Element name -> its non-empty values, in order.
using CsaHeader = std::map<std::string, std::vector<std::string>>;

// Parses BYTES. A header without the "SV10" signature that does not parse as CSA1 (an anonymiser
// overwrote it) has no elements. Throws
// DicomError naming WHERE when a CSA2 element or value runs past the end or a count is over 1000.
CsaHeader ParseCsaHeader(const uint8_t* bytes, size_t size, const std::string& where);

// The values of element NAME as numbers; empty when absent. Throws DicomError naming WHERE when one is
// not a number.
std::vector<double> CsaNumbers(const CsaHeader& header, const std::string& name, const std::string& where);

}  // namespace medpipe::dicom
