#include "resume.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"
#include "medpipe/core/json_text.h"

namespace medpipe::cli {
namespace fs = std::filesystem;

namespace {

// Every record of every manifest*.jsonl in OUTDIR, the last per study winning. A line torn by a
// crash mid-append does not parse and is ignored: its study simply is not committed.
std::map<std::string, nlohmann::json> ReadManifests(const fs::path& outdir) {
  std::map<std::string, nlohmann::json> records;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(outdir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("manifest", 0) != 0 || entry.path().extension() != ".jsonl") continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      const auto record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_object() && record.contains("study_id")) records[record["study_id"]] = record;
    }
  }
  return records;
}

// One line, appended in a single write and synced: concurrent writers (the worker and the run's
// own process) never interleave within a line.
void AppendLine(const fs::path& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(path.string(), std::string("cannot open: ") + std::strerror(errno));
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!written) throw IoError(path.string(), std::string("cannot append the study's record: ") + std::strerror(error));
}

}  // namespace

nlohmann::json SourceJson(const std::string& kind, const std::vector<std::string>& paths) {
  std::vector<std::string> lines;
  for (const auto& path : paths) lines.push_back(Sha256File(path) + " " + path);
  std::sort(lines.begin(), lines.end());
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return {{"kind", kind}, {"files", paths.size()}, {"files_sha256", Sha256Hex(text)}};
}

ResultStore::ResultStore(const fs::path& outdir, const std::string& manifest_name)
    : studies_dir_(outdir / "studies"), manifest_file_(outdir / manifest_name), committed_(ReadManifests(outdir)) {}

std::unique_ptr<StagedFolder> ResultStore::Stage(const std::string& study_id) const {
  return std::make_unique<StagedFolder>(studies_dir_ / study_id);
}

bool ResultStore::IsComplete(const std::string& study_id, const nlohmann::json& source,
                             const std::string& settings_sha256) const {
  const auto record = committed_.find(study_id);
  if (record == committed_.end()) return false;
  std::error_code ec;
  return record->second.value("status", "") == "ok" && record->second.value("settings_sha256", "") == settings_sha256 &&
         record->second.value("files_sha256", "") == source.at("files_sha256") &&
         fs::is_regular_file(studies_dir_ / study_id / "result.json", ec);
}

void ResultStore::Publish(StagedFolder& folder, const nlohmann::json& result) const {
  WriteFileAtomically(folder.Path() / "result.json", JsonText(result) + "\n");
  FailPoint("study_written");
  folder.Commit();
  FailPoint("study_in_place");
  const nlohmann::json record = {{"study_id", result.at("study_id")},
                                 {"status", result.at("status")},
                                 {"files_sha256", result.at("source").at("files_sha256")},
                                 {"settings_sha256", result.at("settings_sha256")}};
  AppendLine(manifest_file_, JsonText(record, -1) + "\n");
  FailPoint("study_recorded");
}

}  // namespace medpipe::cli
