#include "study_folder.h"

#include <cstdio>
#include <system_error>

#include "medpipe/core/error.h"

namespace medpipe::synth {

std::filesystem::path CreateStudyFolder(const std::filesystem::path& out_dir, const std::string& name) {
  std::filesystem::path folder = out_dir / name;
  std::error_code error;
  std::filesystem::create_directories(folder, error);
  if (error) throw IoError(folder.string(), "cannot create the folder: " + error.message());
  const bool empty = std::filesystem::is_empty(folder, error);
  if (error) throw IoError(folder.string(), "cannot list the folder: " + error.message());
  if (!empty) throw IoError(folder.string(), "the folder is not empty; remove it or choose another output folder");
  return folder;
}

std::string SliceFileName(int instance_number) {
  char name[32];
  std::snprintf(name, sizeof(name), "slice_%04d.dcm", instance_number);
  return name;
}

}  // namespace medpipe::synth
