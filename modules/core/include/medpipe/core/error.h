#pragma once
// One exception type per failure kind; each carries where it happened and a sentence a user can act on.
#include <optional>
#include <stdexcept>
#include <string>

namespace medpipe {

enum class ErrorKind { Dicom, Io, Config, Model, Network, Internal };

const char* ErrorKindName(ErrorKind kind);
// The kind ErrorKindName calls NAME ("io" -> ErrorKind::Io); nullopt for other text.
std::optional<ErrorKind> ErrorKindNamed(const std::string& name);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, std::string where, const std::string& reason);
  ErrorKind Kind() const { return kind_; }
  // File path, tag or config key the error is about.
  const std::string& Where() const { return where_; }
  // The reason alone, without the location prefix that what() carries.
  const std::string& Reason() const { return reason_; }

 protected:
  // what() is "WHERE: REASON ADVICE"; Reason() stays REASON, so the error can be made again from it.
  Error(ErrorKind kind, std::string where, const std::string& reason, const std::string& advice);

 private:
  ErrorKind kind_;
  std::string where_;
  std::string reason_;
};

class DicomError : public Error {
 public:
  DicomError(std::string file, const std::string& reason) : Error(ErrorKind::Dicom, std::move(file), reason) {}
};

class IoError : public Error {
 public:
  IoError(std::string path, const std::string& reason) : Error(ErrorKind::Io, std::move(path), reason) {}
};

class ConfigError : public Error {
 public:
  ConfigError(std::string key, const std::string& reason) : Error(ErrorKind::Config, std::move(key), reason) {}
};

class ModelError : public Error {
 public:
  ModelError(std::string path, const std::string& reason) : Error(ErrorKind::Model, std::move(path), reason) {}
};

// A DICOM network operation that failed; TRANSIENT when trying again later may work (a refused or
// dropped connection, a timeout), not when the peer turned medpipe away (a rejected association).
class NetworkError : public Error {
 public:
  NetworkError(std::string peer, const std::string& reason, bool transient)
      : Error(ErrorKind::Network, std::move(peer), reason), transient_(transient) {}
  bool Transient() const { return transient_; }

 private:
  bool transient_;
};

// A broken invariant: a bug in medpipe, not a fault of the input, the settings or the machine.
// what() asks for a report; Reason() is the reason alone.
class InternalError : public Error {
 public:
  InternalError(std::string where, const std::string& reason);
};

// Throws the class of KIND (DicomError for ErrorKind::Dicom, ...) with WHERE and REASON: how an error
// that crossed a process boundary as its kind, where and reason is thrown again as itself. A
// NetworkError made so is not transient.
[[noreturn]] void ThrowError(ErrorKind kind, std::string where, const std::string& reason);

}  // namespace medpipe
