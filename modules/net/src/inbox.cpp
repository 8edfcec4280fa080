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

Inbox::Inbox(fs::path root) : root_(std::move(root)) {
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
  if (stored) SyncToDisk(study_dir);
  std::lock_guard<std::mutex> lock(mutex_);
  last_arrival_[study_id] = Clock::now();
  accepted_ += stored;
  return study_id;
}

std::map<std::string, Inbox::Clock::time_point> Inbox::LastArrivals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return last_arrival_;
}

size_t Inbox::Accepted() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return accepted_;
}

}  // namespace medpipe::net
