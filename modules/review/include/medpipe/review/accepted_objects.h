#pragma once
// What a reviewed batch sends to a PACS (`run --send-reviewed-only`, `medpipe send`).
#include <filesystem>
#include <string>
#include <vector>

namespace medpipe::review {

// The DICOM objects of OUTDIR/studies/STUDY_ID to send when only accepted results go out: none unless
// the study's last accept or reject in OUTDIR/review.jsonl accepts it as it is now (a rejected,
// unreviewed or since changed study sends nothing); else its .dcm files with its SR replaced by a
// verified copy (WriteVerifiedSr: the accepting reviewer and organisation, the time of acceptance),
// written once per acceptance under OUTDIR/verified/STUDY_ID/ and reused, so a rerun sends the same
// object. The study folder is never written to.
std::vector<std::filesystem::path> AcceptedObjects(const std::filesystem::path& outdir, const std::string& study_id);

}  // namespace medpipe::review
