#include "medpipe/review/accepted_objects.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "medpipe/core/digest.h"
#include "medpipe/core/files.h"
#include "medpipe/core/study_result.h"
#include "medpipe/review/review_ledger.h"
#include "medpipe/review/study_review.h"
#include "medpipe/review/verified_sr.h"

namespace fs = std::filesystem;

namespace medpipe::review {

std::vector<fs::path> AcceptedObjects(const fs::path& outdir, const std::string& study_id) {
  const fs::path folder = outdir / "studies" / study_id;
  const auto acceptance = LastDecision(ReadReviews(outdir), study_id, "");
  if (!acceptance || acceptance->signoff != Signoff::Accept || acceptance->sha256 != StudyDigest(folder)) return {};

  const StudyResult study = nlohmann::json::parse(ReadFile(folder / "result.json")).get<StudyResult>();
  const auto sr = study.outputs.find("sr");
  std::vector<fs::path> objects;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".dcm") continue;
    if (sr == study.outputs.end() || entry.path().filename() != sr->second) {
      objects.push_back(entry.path());
      continue;
    }
    // One verified copy per acceptance: the same acceptance sends the same object (same SOP Instance UID).
    const std::string name = Sha256Hex(acceptance->time + " " + acceptance->reviewer + " " + acceptance->sha256).substr(0, 16) +
                             "_" + sr->second;
    const fs::path verified = outdir / "verified" / study_id / name;
    if (!fs::is_regular_file(verified))
      WriteVerifiedSr(entry.path(), verified, acceptance->reviewer, acceptance->organization,
                      DicomDateTime(acceptance->time));
    objects.push_back(verified);
  }
  std::sort(objects.begin(), objects.end());
  return objects;
}

}  // namespace medpipe::review
