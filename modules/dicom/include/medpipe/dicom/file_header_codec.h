#pragma once
// FileHeader as bytes, so that a header read in a disposable process (the header pass of `medpipe`)
// can come back to the process that builds the index. Not a file format: both ends are the same build.
#include <string>
#include <string_view>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

std::string EncodeFileHeader(const FileHeader& header);
// Throws DicomError naming HEADER's path when BYTES are not what EncodeFileHeader wrote.
FileHeader DecodeFileHeader(std::string_view bytes);

}  // namespace medpipe::dicom
