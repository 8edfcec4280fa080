#pragma once
// What a run has to do: one work item per DICOM study or NIfTI file, narrowed to a shard of the
// archive (--shard I/N) and to the studies a scheduler asked for (--studies FILE).
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "medpipe/dicom/series_index.h"

namespace medpipe::cli {

struct WorkItem {
  std::string id;                     // output folder name: ShortId of the StudyInstanceUID or NIfTI path
  std::string uid;                    // StudyInstanceUID; the path for a NIfTI file
  const dicom::Study* study = nullptr;  // DICOM input
  std::filesystem::path nifti;        // NIfTI input
  std::vector<std::string> files;     // every input file, for the input digest
};

std::vector<WorkItem> ListWork(const dicom::ArchiveIndex& index);

// Shard INDEX of COUNT (0 <= INDEX < COUNT): a study belongs to exactly one shard, decided by its id
// alone, so N processes on N machines that index the same archive cover it exactly once.
struct Shard {
  unsigned index = 0, count = 1;
};
Shard ParseShard(const std::string& text);  // "I/N"; throws ConfigError
bool InShard(const std::string& id, const Shard& shard);

// --studies FILE: one StudyInstanceUID or folder per line ('#' starts a comment). A study is wanted
// when its UID is listed or one of its files lies in a listed folder.
struct StudyList {
  std::set<std::string> uids;
  std::vector<std::filesystem::path> folders;
};
StudyList ReadStudyList(const std::filesystem::path& file);  // throws ConfigError / IoError
bool Wanted(const WorkItem& item, const StudyList& list);

std::vector<WorkItem> SelectWork(std::vector<WorkItem> items, const Shard& shard, const std::optional<StudyList>& list);

}  // namespace medpipe::cli
