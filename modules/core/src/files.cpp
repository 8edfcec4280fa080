#include "medpipe/core/files.h"

#include <fstream>
#include <sstream>

#include "medpipe/core/error.h"

namespace medpipe {

void WriteFileAtomically(const std::filesystem::path& path, const std::string& text) {
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw IoError(temporary, "cannot write file");
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) throw IoError(path.string(), "cannot rename into place: " + ec.message());
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(path.string(), "cannot be read");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace medpipe
