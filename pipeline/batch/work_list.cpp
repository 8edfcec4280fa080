#include "batch/work_list.h"

#include <algorithm>
#include <sstream>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"

namespace fs = std::filesystem;

namespace medpipe::cli {
namespace {

fs::path Normal(const fs::path& path) { return fs::absolute(path).lexically_normal(); }

bool IsInside(const fs::path& file, const fs::path& folder) {
  const auto relative = Normal(file).lexically_relative(folder);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

std::vector<WorkItem> ListWork(const dicom::ArchiveIndex& index) {
  std::vector<WorkItem> items;
  for (const auto& study : index.studies) {
    WorkItem item{study.id, study.study_instance_uid, &study, {}, {}};
    for (const auto& series : study.series)
      for (const auto& file : series.files) item.files.push_back(file.path);
    items.push_back(std::move(item));
  }
  for (const auto& file : index.nifti_files) {
    const std::string path = Normal(file).string();
    items.push_back({ShortId(path), path, nullptr, file, {file.string()}});
  }
  return items;
}

Shard ParseShard(const std::string& text) {
  Shard shard;
  char slash = 0;
  std::istringstream in(text);
  if (!(in >> shard.index >> slash >> shard.count) || slash != '/' || !in.eof() || shard.count == 0 ||
      shard.index >= shard.count)
    throw ConfigError("--shard", "is '" + text + "'; expected I/N with 0 <= I < N, such as 0/4");
  return shard;
}

bool InShard(const std::string& id, const Shard& shard) {
  // The id is already a hash (hex), so its leading digits spread studies evenly over the shards.
  return std::stoull(Sha256Hex(id).substr(0, 12), nullptr, 16) % shard.count == shard.index;
}

StudyList ReadStudyList(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec))
    throw ConfigError("--studies", "is '" + file.string() + "', which is not a file; expected a file with one " +
                                       "StudyInstanceUID or folder per line");
  std::istringstream lines(ReadFile(file));
  StudyList list;
  size_t number = 0;
  for (std::string line; std::getline(lines, line);) {
    ++number;
    line = line.substr(0, line.find('#'));
    const auto begin = line.find_first_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    line = line.substr(begin, line.find_last_not_of(" \t\r") - begin + 1);
    if (fs::is_directory(line)) {
      list.folders.push_back(Normal(line));
    } else if (line.find_first_not_of("0123456789.") == std::string::npos) {
      list.uids.insert(line);
    } else {
      throw ConfigError("--studies " + file.string(),
                        "line " + std::to_string(number) + " is '" + line + "', which is neither a StudyInstanceUID " +
                            "nor an existing folder; expected one of them per line (a UID is digits and dots; '#' " +
                            "starts a comment)");
    }
  }
  return list;
}

bool Wanted(const WorkItem& item, const StudyList& list) {
  if (list.uids.count(item.uid)) return true;
  return std::any_of(list.folders.begin(), list.folders.end(), [&](const fs::path& folder) {
    return std::any_of(item.files.begin(), item.files.end(), [&](const std::string& f) { return IsInside(f, folder); });
  });
}

std::vector<WorkItem> SelectWork(std::vector<WorkItem> items, const Shard& shard, const std::optional<StudyList>& list) {
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const WorkItem& item) { return !InShard(item.id, shard) || (list && !Wanted(item, *list)); }),
              items.end());
  return items;
}

}  // namespace medpipe::cli
