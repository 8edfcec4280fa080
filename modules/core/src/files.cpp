#include "medpipe/core/files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "medpipe/core/error.h"
#include "medpipe/core/fail_point.h"

namespace medpipe {

void SyncToDisk(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path.string(), std::string("cannot open to sync: ") + std::strerror(errno));
  const int synced = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (synced != 0) throw IoError(path.string(), std::string("cannot sync to disk: ") + std::strerror(error));
}

namespace {
bool Holds(const std::filesystem::path& path, const std::string& text) {
  std::error_code ec;
  return std::filesystem::file_size(path, ec) == text.size() && !ec && ReadFile(path) == text;
}
}  // namespace

void WriteFileAtomically(const std::filesystem::path& path, const std::string& text) {
  if (Holds(path, text)) return;  // a rerun that changes nothing writes nothing
  // Host and process id keep concurrent writers (shards on several machines sharing OUT) off each
  // other's temporary file.
  char host[256] = "";
  ::gethostname(host, sizeof host - 1);
  const auto temporary = path.string() + ".tmp-" + host + "-" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw IoError(temporary, "cannot write file");
  }
  SyncToDisk(temporary);
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw IoError(path.string(), "cannot rename into place: " + ec.message());
  SyncToDisk(path.parent_path().empty() ? "." : path.parent_path());
}

namespace {
constexpr const char* kStagingSuffix = ".staging-";
}

StagedFolder::StagedFolder(std::filesystem::path final_path)
    : final_(std::move(final_path)),
      staging_(final_.parent_path() / ("." + final_.filename().string() + kStagingSuffix + std::to_string(::getpid()))) {
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
  std::filesystem::create_directories(staging_, ec);
  if (ec) throw IoError(staging_.string(), "cannot create staging folder: " + ec.message());
}

StagedFolder::~StagedFolder() {
  if (committed_) return;
  std::error_code ec;
  std::filesystem::remove_all(staging_, ec);
}

void StagedFolder::Commit() {
  // Contents reach the disk before the rename makes them visible, and the rename before Commit
  // returns: a power cut shows either the old folder or the whole new one.
  for (const auto& entry : std::filesystem::recursive_directory_iterator(staging_))
    if (entry.is_regular_file()) SyncToDisk(entry.path());
  SyncToDisk(staging_);
  FailPoint("study_synced");
  std::error_code ec;
  // rename() cannot replace a non-empty folder: move the old one aside first, then drop it.
  const auto previous = staging_.string() + ".previous";
  const bool had_previous = std::filesystem::exists(final_, ec);
  if (had_previous) std::filesystem::rename(final_, previous, ec);
  if (!ec) std::filesystem::rename(staging_, final_, ec);
  if (ec) throw IoError(final_.string(), "cannot move results into place: " + ec.message());
  committed_ = true;
  FailPoint("study_renamed");
  SyncToDisk(final_.parent_path());
  if (had_previous) std::filesystem::remove_all(previous, ec);
}

void RemoveStaleStaging(const std::filesystem::path& parent, const std::set<std::string>& final_names) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    const std::string name = entry.path().filename().string();  // ".<final name>.staging-<pid>[.previous]"
    const auto suffix = name.find(kStagingSuffix);
    if (name.front() == '.' && suffix != std::string::npos && final_names.count(name.substr(1, suffix - 1)))
      std::filesystem::remove_all(entry.path(), ec);
  }
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), "cannot be read");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace medpipe
