#pragma once
#include <cstdint>
#include <string>

namespace medpipe::dicom {

// Sequences nested deeper than this are refused: real objects (SR content trees included) stay far below.
constexpr size_t kMaxSequenceDepth = 128;

// Checks on a file's raw bytes, before DCMTK parses it, for what DCMTK cannot survive or bound:
// - sequences nested deeper than kMaxSequenceDepth (DCMTK recurses once per level: 200,000 levels
//   in a 7 MB file overflow the stack and kill the process);
// - a deflated dataset that inflates to more than MAX_INFLATED_BYTES (DCMTK cannot leave its values
//   on disk and inflates all of it into memory: a 2 MB file can become gigabytes).
// Both are read in constant memory. Throws DicomError naming PATH; bytes it cannot follow are left
// for DCMTK to report.
void CheckRawBytes(const std::string& path, uint64_t max_inflated_bytes);

}  // namespace medpipe::dicom
