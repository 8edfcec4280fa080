#include "medpipe/review/review_ledger.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "medpipe/core/json_lines.h"

namespace fs = std::filesystem;

namespace medpipe::review {
namespace {

constexpr const char* kSignoffNames[] = {"accept", "reject", "comment"};
constexpr const char* kStateNames[] = {"unreviewed", "accepted", "rejected"};

bool Decides(const ReviewEntry& entry) { return entry.signoff != Signoff::Comment; }

// A line a crash cut short gets its line break, so the next entry starts a line of its own.
void EndTornLine(const fs::path& ledger) {
  std::fstream file(ledger, std::ios::in | std::ios::out | std::ios::binary);
  if (!file || !file.seekg(-1, std::ios::end)) return;
  if (file.get() == '\n') return;
  file.clear();
  file.seekp(0, std::ios::end);
  file.put('\n');
}

}  // namespace

const char* SignoffName(Signoff signoff) { return kSignoffNames[static_cast<int>(signoff)]; }

std::optional<Signoff> SignoffNamed(const std::string& name) {
  for (int i = 0; i < 3; ++i)
    if (name == kSignoffNames[i]) return static_cast<Signoff>(i);
  return std::nullopt;
}

const char* ReviewStateName(ReviewState state) { return kStateNames[static_cast<int>(state)]; }

void AppendReview(const fs::path& outdir, const ReviewEntry& entry) {
  EndTornLine(outdir / kLedgerName);
  AppendJsonLine(outdir / kLedgerName, {{"study_id", entry.study_id},
                                        {"analysis", entry.analysis},
                                        {"decision", SignoffName(entry.signoff)},
                                        {"reviewer", entry.reviewer},
                                        {"organization", entry.organization},
                                        {"comment", entry.comment},
                                        {"time", entry.time},
                                        {"sha256", entry.sha256}});
}

std::vector<ReviewEntry> ReadReviews(const fs::path& outdir) {
  std::vector<ReviewEntry> entries;
  const std::string stem = fs::path(kLedgerName).stem().string();
  for (const auto& record : ReadJsonLines(outdir, stem)) {
    const auto text = [&](const char* key) {
      const auto it = record.find(key);
      return it != record.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const auto signoff = SignoffNamed(text("decision"));
    if (!signoff || text("study_id").empty() || text("sha256").empty()) continue;
    entries.push_back({text("study_id"), text("analysis"), *signoff, text("reviewer"), text("organization"),
                       text("comment"), text("time"), text("sha256")});
  }
  return entries;
}

std::optional<ReviewEntry> LastDecision(const std::vector<ReviewEntry>& entries, const std::string& study_id,
                                        const std::string& analysis) {
  for (auto it = entries.rbegin(); it != entries.rend(); ++it)
    if (Decides(*it) && it->study_id == study_id && it->analysis == analysis) return *it;
  return std::nullopt;
}

ReviewState StateOf(const std::vector<ReviewEntry>& entries, const std::string& study_id, const std::string& analysis,
                    const std::string& sha256) {
  const auto last = LastDecision(entries, study_id, analysis);
  if (!last || last->sha256 != sha256) return ReviewState::Unreviewed;
  return last->signoff == Signoff::Accept ? ReviewState::Accepted : ReviewState::Rejected;
}

}  // namespace medpipe::review
