#include "medpipe/core/json_lines.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "medpipe/core/error.h"
#include "medpipe/core/json_text.h"

namespace fs = std::filesystem;

namespace medpipe {

void AppendJsonLine(const fs::path& path, const nlohmann::json& record) {
  const std::string line = JsonText(record, -1) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError(path.string(), std::string("cannot open: ") + std::strerror(errno));
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
  const int error = errno;
  ::close(fd);
  if (!written) throw IoError(path.string(), std::string("cannot append a record: ") + std::strerror(error));
}

std::vector<nlohmann::json> ReadJsonLines(const fs::path& folder, const std::string& prefix) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && entry.path().extension() == ".jsonl") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<nlohmann::json> records;
  for (const auto& file : files) {
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      auto record = nlohmann::json::parse(line, nullptr, false);
      if (record.is_object()) records.push_back(std::move(record));
    }
  }
  return records;
}

}  // namespace medpipe
