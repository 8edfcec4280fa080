#include "medpipe/net/inbox.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "medpipe/core/digest.h"
#include "medpipe/core/error.h"
#include "medpipe/core/files.h"
#include "medpipe/dicom/file_header_reader.h"

namespace fs = std::filesystem;

namespace medpipe::net {
namespace {

// Hard-links FROM as TO; false when TO exists already (link never replaces a file).
bool LinkIfAbsent(const fs::path& from, const fs::path& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return true;
  if (errno == EEXIST) return false;
  throw IoError(to.string(), std::string("cannot store the received object: ") + std::strerror(errno));
}

// Removes the partial file however Accept ends.
struct RemoveOnExit {
  const fs::path& path;
  ~RemoveOnExit() {
    std::error_code ignored;
    fs::remove(path, ignored);
  }
};

}  // namespace

Inbox::Inbox(fs::path root, Filed on_filed) : root_(std::move(root)), on_filed_(std::move(on_filed)) {
  fs::remove_all(root_ / ".partial");
  fs::create_directories(root_ / ".partial");
}

fs::path Inbox::PartialFile() {
  std::lock_guard<std::mutex> lock(mutex_);
  return root_ / ".partial" / (std::to_string(::getpid()) + "-" + std::to_string(++partial_counter_) + ".dcm");
}

std::string Inbox::Accept(const fs::path& partial) {
  const RemoveOnExit cleanup{partial};
  const dicom::FileHeader header = dicom::ReadFileHeader(partial.string());
  if (header.study_instance_uid.empty() || header.sop_instance_uid.empty())
    throw DicomError(partial.string(), "the received object has no Study or SOP Instance UID; not stored");
  SyncToDisk(partial);
  const std::string study_id = ShortId(header.study_instance_uid);
  const fs::path study_dir = root_ / study_id;
  if (fs::create_directory(study_dir)) SyncToDisk(root_);
  const std::string sop_id = ShortId(header.sop_instance_uid);
  bool stored = LinkIfAbsent(partial, study_dir / (sop_id + ".dcm"));
  if (!stored) {
    const std::string digest = Sha256File(partial);
    if (Sha256File(study_dir / (sop_id + ".dcm")) != digest)  // same UID, other content: keep both
      stored = LinkIfAbsent(partial, study_dir / (sop_id + "-" + digest.substr(0, 16) + ".dcm"));
  }
  if (stored) {
    SyncToDisk(study_dir);
    if (on_filed_) on_filed_(study_id);
  }
  return study_id;
}

}  // namespace medpipe::net
