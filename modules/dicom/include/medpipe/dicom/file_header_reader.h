#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "medpipe/dicom/file_header.h"

namespace medpipe::dicom {

struct HeaderLimits {
  uint64_t max_pixel_bytes = uint64_t{4} << 30;  // largest declared decoded image accepted
  uint64_t max_frames = 100000;
};

// True when the file starts like DICOM: "DICM" after a 128-byte preamble, or a raw dataset that
// begins with group 0002 or 0008. Anything else is not a DICOM file.
bool LooksLikeDicom(const std::string& path);

// Reads the header of one file without loading pixel values (large values stay on disk) and
// validates the pixel layout against the limits. Throws DicomError naming the file and the reason.
FileHeader ReadFileHeader(const std::string& path, const HeaderLimits& limits = {});

// The files a DICOMDIR's directory records name, resolved against its folder; read with the same
// checks as ReadFileHeader. Throws DicomError naming the DICOMDIR and the reason (a record naming a
// file outside its folder is one).
std::vector<std::filesystem::path> ReadDicomdirReferences(const std::string& path, const HeaderLimits& limits = {});

}  // namespace medpipe::dicom
