#pragma once
#include <filesystem>
#include <set>
#include <string>

namespace medpipe {

// Writes TEXT to PATH via a temporary file, fsync and rename (then fsync of the folder), so readers
// never see half a file, even after a power cut. A file that already holds TEXT is left untouched.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& text);

// fsync of a file or folder; throws IoError naming PATH when it fails.
void SyncToDisk(const std::filesystem::path& path);

// A folder filled under a hidden staging name beside its final place and moved there whole by
// Commit(), so a crash never leaves half of it visible. Uncommitted staging is removed on destruction;
// what a killed process left is removed by RemoveStaleStaging.
class StagedFolder {
 public:
  explicit StagedFolder(std::filesystem::path final_path);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  const std::filesystem::path& Path() const { return staging_; }
  // Syncs the staging folder's files to disk, renames it into place (replacing an earlier folder of
  // the same name) and syncs the parent folder.
  void Commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path staging_;
  bool committed_ = false;
};

// Removes the staging folders that a killed run left in PARENT for the folders named FINAL_NAMES
// (only those: other processes, such as other shards, may be filling theirs).
void RemoveStaleStaging(const std::filesystem::path& parent, const std::set<std::string>& final_names);

// The whole file as bytes; throws IoError naming PATH when it cannot be read.
std::string ReadFile(const std::filesystem::path& path);

}  // namespace medpipe
