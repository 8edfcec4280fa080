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

std::optional<ErrorKind> ErrorKindNamed(const std::string& name) {
  for (const ErrorKind kind : {ErrorKind::Dicom, ErrorKind::Io, ErrorKind::Config, ErrorKind::Model, ErrorKind::Network,
                               ErrorKind::Internal})
    if (name == ErrorKindName(kind)) return kind;
  return std::nullopt;
}

Error::Error(ErrorKind kind, std::string where, const std::string& reason) : Error(kind, std::move(where), reason, "") {}

Error::Error(ErrorKind kind, std::string where, const std::string& reason, const std::string& advice)
    : std::runtime_error((where.empty() ? reason : where + ": " + reason) + advice),
      kind_(kind),
      where_(std::move(where)),
      reason_(reason) {}

InternalError::InternalError(std::string where, const std::string& reason)
    : Error(ErrorKind::Internal, std::move(where), reason, " (a bug in medpipe: please report it with the input that led to it)") {}

void ThrowError(ErrorKind kind, std::string where, const std::string& reason) {
  switch (kind) {
    case ErrorKind::Dicom: throw DicomError(std::move(where), reason);
    case ErrorKind::Io: throw IoError(std::move(where), reason);
    case ErrorKind::Config: throw ConfigError(std::move(where), reason);
    case ErrorKind::Model: throw ModelError(std::move(where), reason);
    case ErrorKind::Network: throw NetworkError(std::move(where), reason, false);
    case ErrorKind::Internal: break;
  }
  throw InternalError(std::move(where), reason);
}

}  // namespace medpipe
