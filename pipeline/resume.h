#pragma once
// Resume and idempotence: a study whose result.json says "ok" for the same input files (by SHA-256)
// and the same settings (models' sha256 and the options that change outputs) is not run again.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace medpipe::cli {

// result.json's "source": KIND, the file count, and SHA-256 over the sorted "<sha256> <path>" lines.
nlohmann::json SourceJson(const std::string& kind, const std::vector<std::string>& paths);

// Whether STUDY_FOLDER holds a complete, successful result for SOURCE (as SourceJson gives it)
// under SETTINGS_SHA256. A missing or unreadable result.json is simply not complete.
bool IsComplete(const std::filesystem::path& study_folder, const nlohmann::json& source,
                const std::string& settings_sha256);

}  // namespace medpipe::cli
