#pragma once
#include <filesystem>
#include <string>

namespace medpipe {

// Writes TEXT to PATH via a temporary file and rename, so readers never see half a file.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& text);

// The whole file as bytes; throws IoError naming PATH when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

}  // namespace medpipe
