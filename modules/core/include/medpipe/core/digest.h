#pragma once
#include <filesystem>
#include <string>

namespace medpipe {

// Lower-case hex SHA-256 of a byte string.
std::string Sha256Hex(const std::string& bytes);

// Base64 SHA-256 of a byte string, as Content-Security-Policy hash sources write it.
std::string Sha256Base64(const std::string& bytes);

// Lower-case hex SHA-256 of a file's contents, streamed.
std::string Sha256File(const std::filesystem::path& path);

// A short, filesystem-safe identifier derived from a UID (first 16 hex digits of its SHA-256),
// so output names never come from free-text tags.
std::string ShortId(const std::string& uid);

}  // namespace medpipe
