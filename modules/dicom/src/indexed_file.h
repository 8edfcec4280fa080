#pragma once
// Reading an archive file again after the header pass indexed it, with the two ways that fails told
// apart: the file is gone or unreadable now (IoError), or DCMTK cannot parse it (DicomError).
#include <dcmtk/dcmdata/dcfilefo.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "dicom_text.h"
#include "medpipe/core/error.h"

namespace medpipe::dicom {

// Why PATH cannot be opened as a regular file now (the OS's reason, or "a folder"); empty when it can.
inline std::string WhyUnreadable(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::strerror(errno);
  struct stat info {};
  const bool regular = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  ::close(fd);
  if (regular) return "";
  return S_ISDIR(info.st_mode) ? "it is a folder now" : "it is not a regular file now";
}

// Loads the indexed file PATH into FILE to read its PURPOSE ("pixel data"), leaving values longer than
// MAX_VALUE_BYTES on disk.
inline void LoadIndexedFile(DcmFileFormat& file, const std::string& path, const std::string& purpose,
                            Uint32 max_value_bytes = DCM_MaxReadLength) {
  ReadUnknownVrWithDictionary();
  const OFCondition status = file.loadFile(path.c_str(), EXS_Unknown, EGL_noChange, max_value_bytes);
  if (status.good()) return;
  if (const std::string why = WhyUnreadable(path); !why.empty())
    throw IoError(path, "cannot be opened to read its " + purpose + " (" + why +
                            "), though it was read when the archive was indexed: keep the archive unchanged while "
                            "medpipe runs, then run again");
  throw DicomError(path, "cannot be parsed to read its " + purpose + ": " + status.text());
}

}  // namespace medpipe::dicom
