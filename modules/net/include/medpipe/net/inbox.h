#pragma once
// Where received DICOM objects land, whether sent to `medpipe listen` or retrieved by `medpipe fetch`:
// ROOT/<study-id>/<sop-id>.dcm (ids: ShortId of the Study and SOP Instance UIDs). An object is
// received into ROOT/.partial/ and only a complete, readable one is moved into place, fsynced and
// linked under a name that does not exist yet: nothing is overwritten and no reader ever sees half
// an object. A study's folder grows as objects arrive; ON_FILED hears of each one.
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>

namespace medpipe::net {

class Inbox {
 public:
  // Told the study id of each object filed (not of a duplicate); called from the receiving thread.
  using Filed = std::function<void(const std::string& study_id)>;

  // Creates ROOT and ROOT/.partial, removing what an interrupted receive left there.
  explicit Inbox(std::filesystem::path root, Filed on_filed = {});

  const std::filesystem::path& Root() const { return root_; }
  // A new, unused file name in ROOT/.partial for one object being received.
  std::filesystem::path PartialFile();
  // Files PARTIAL (a complete object) under its study and returns the study id. The same object
  // received twice is kept once; a different object with a SOP Instance UID already there is kept
  // beside it. Throws DicomError (not DICOM, no Study or SOP Instance UID) or IoError; PARTIAL is
  // removed in every case.
  std::string Accept(const std::filesystem::path& partial);

 private:
  std::filesystem::path root_;
  Filed on_filed_;
  std::mutex mutex_;
  size_t partial_counter_ = 0;
};

}  // namespace medpipe::net
