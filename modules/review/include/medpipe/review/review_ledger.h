#pragma once
// Sign-off: what reviewers decided about a batch's results, kept append-only in OUT/review.jsonl.
// Each entry names what it is about (a study, or one analysis of it) by the SHA-256 of the files as
// they were reviewed, so a result that changes afterwards is unreviewed again.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace medpipe::review {

// The ledger's name in OUT.
constexpr const char* kLedgerName = "review.jsonl";

// What a reviewer did: accept or reject a result, or only comment on it.
enum class Signoff { Accept, Reject, Comment };
const char* SignoffName(Signoff signoff);                        // "accept", "reject", "comment"
std::optional<Signoff> SignoffNamed(const std::string& name);  // nullopt for other text

// Where a study or analysis stands: the last accept or reject of it as it is now, or none.
enum class ReviewState { Unreviewed, Accepted, Rejected };
const char* ReviewStateName(ReviewState state);  // "unreviewed", "accepted", "rejected"

struct ReviewEntry {
  std::string study_id;
  std::string analysis;  // empty for the study as a whole, else AnalysisKey(): "<series id>/<model>"
  Signoff signoff = Signoff::Comment;
  std::string reviewer, organization, comment;
  std::string time;    // UTC, "2026-12-07T15:21:02Z"
  std::string sha256;  // of what was reviewed: StudyDigest or AnalysisDigest when it was recorded
};

// Appends ENTRY to OUTDIR/review.jsonl (one whole line, synced). Throws IoError naming the file.
void AppendReview(const std::filesystem::path& outdir, const ReviewEntry& entry);

// Every entry of OUTDIR/review.jsonl in order; lines torn by a crash or not a review are skipped.
std::vector<ReviewEntry> ReadReviews(const std::filesystem::path& outdir);

// The state of STUDY_ID's ANALYSIS (empty: the study) whose digest is now SHA256: its last accept or
// reject in ENTRIES if that was of the same digest, else unreviewed. Comments do not change it.
ReviewState StateOf(const std::vector<ReviewEntry>& entries, const std::string& study_id, const std::string& analysis,
                    const std::string& sha256);

// The last accept or reject of STUDY_ID's ANALYSIS in ENTRIES, whatever its digest.
std::optional<ReviewEntry> LastDecision(const std::vector<ReviewEntry>& entries, const std::string& study_id,
                                        const std::string& analysis);

}  // namespace medpipe::review
