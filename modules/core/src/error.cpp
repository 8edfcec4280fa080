#include "medpipe/core/error.h"

namespace medpipe {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::Dicom: return "dicom";
    case ErrorKind::Io: return "io";
    case ErrorKind::Config: return "config";
    case ErrorKind::Model: return "model";
    case ErrorKind::Network: return "network";
    case ErrorKind::Internal: return "internal";
  }
  return "internal";
}

Error::Error(ErrorKind kind, std::string where, const std::string& reason)
    : std::runtime_error(where.empty() ? reason : where + ": " + reason),
      kind_(kind),
      where_(std::move(where)),
      reason_(reason) {}

}  // namespace medpipe
