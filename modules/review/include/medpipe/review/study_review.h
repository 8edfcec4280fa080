#pragma once
// A study's review as it stands: the digests of its results now and the state each has in the ledger.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "medpipe/core/study_result.h"
#include "medpipe/review/review_ledger.h"

namespace medpipe::review {

// "<series id>/<model>": how the ledger names one analysis of a study.
std::string AnalysisKey(const SeriesResult& series, const Analysis& analysis);

// SHA-256 over "<sha256> <name>" lines of the study folder's result.json and every .dcm in it (SEG,
// RTSTRUCT, SR): changes when any of them does.
std::string StudyDigest(const std::filesystem::path& study_folder);

// SHA-256 of the analysis' entry in result.json and of each output file it names that is in the folder.
std::string AnalysisDigest(const std::filesystem::path& study_folder, const Analysis& analysis);

struct TargetReview {
  std::string sha256;
  ReviewState state = ReviewState::Unreviewed;
};

struct StudyReview {
  TargetReview study;
  std::map<std::string, TargetReview> analyses;  // by AnalysisKey
  std::vector<ReviewEntry> history;              // the study's entries, its analyses' included, in order
};

// STUDY's review from LEDGER (ReadReviews), digests computed from STUDY_FOLDER now.
StudyReview ReviewOf(const std::filesystem::path& study_folder, const StudyResult& study,
                     const std::vector<ReviewEntry>& ledger);

// {"sha256", "state", "analyses": {key: {"sha256", "state"}}, "history": [entries]}: what the pages show.
nlohmann::json ReviewJson(const StudyReview& review);
nlohmann::json EntryJson(const ReviewEntry& entry);

}  // namespace medpipe::review
