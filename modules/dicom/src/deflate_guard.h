#pragma once
#include <cstdint>
#include <string>

namespace medpipe::dicom {

// DCMTK cannot leave the values of a deflated dataset on disk: it inflates the whole file into
// memory to read the header, so a 2 MB file can become gigabytes. When PATH declares Deflated
// Explicit VR Little Endian, counts what it inflates to (zlib, constant memory) and throws
// DicomError naming the file when that exceeds MAX_INFLATED_BYTES. Other files pass untouched.
void CheckInflatedSize(const std::string& path, uint64_t max_inflated_bytes);

}  // namespace medpipe::dicom
