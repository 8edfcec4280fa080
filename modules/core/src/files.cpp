#include "medpipe/core/files.h"

#include <fstream>
#include <sstream>

#include <unistd.h>

#include "medpipe/core/error.h"

namespace medpipe {

void WriteFileAtomically(const std::filesystem::path& path, const std::string& text) {
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
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw IoError(path.string(), "cannot rename into place: " + ec.message());
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
  std::error_code ec;
  // rename() cannot replace a non-empty folder: move the old one aside first, then drop it.
  const auto previous = staging_.string() + ".previous";
  const bool had_previous = std::filesystem::exists(final_, ec);
  if (had_previous) std::filesystem::rename(final_, previous, ec);
  if (!ec) std::filesystem::rename(staging_, final_, ec);
  if (ec) throw IoError(final_.string(), "cannot move results into place: " + ec.message());
  committed_ = true;
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
