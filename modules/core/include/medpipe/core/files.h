#pragma once
#include <filesystem>
#include <set>
#include <string>

namespace medpipe {

// Writes TEXT to PATH via a temporary file and rename, so readers never see half a file.
void WriteFileAtomically(const std::filesystem::path& path, const std::string& text);

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
  // Renames the staging folder into place, replacing an earlier folder of the same name.
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
