#include "resume.h"

#include <algorithm>

#include "medpipe/core/digest.h"
#include "medpipe/core/files.h"

namespace medpipe::cli {

nlohmann::json SourceJson(const std::string& kind, const std::vector<std::string>& paths) {
  std::vector<std::string> lines;
  for (const auto& path : paths) lines.push_back(Sha256File(path) + " " + path);
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return {{"kind", kind}, {"files", paths.size()}, {"files_sha256", Sha256Hex(text)}};
}

bool IsComplete(const std::filesystem::path& study_folder, const nlohmann::json& source,
                const std::string& settings_sha256) {
  const auto path = study_folder / "result.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  try {
    const auto result = nlohmann::json::parse(ReadFile(path));
    return result.value("status", "") == "ok" && result.value("settings_sha256", "") == settings_sha256 &&
           result.at("source").value("files_sha256", "") == source.at("files_sha256");
  } catch (const std::exception&) {
    return false;  // damaged: run the study again
  }
}

}  // namespace medpipe::cli
