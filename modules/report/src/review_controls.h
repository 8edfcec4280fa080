#pragma once
// Sign-off on the pages: hidden controls the pages carry everywhere, shown only when `medpipe review`
// serves them (the scripts find the server's JSON API at /api/review; from file:// they stay hidden).
#include <string>

namespace medpipe::report {

// Accept / reject / comment for STUDY_ID as a whole (ANALYSIS empty, with the reviewer's name field)
// or for one analysis ("<series id>/<model>"), with its state and history.
std::string SignoffBlock(const std::string& study_id, const std::string& analysis);

// The study page's sign-off client.
const std::string& SignoffScript();

// The batch page's filters (failed, flagged, unreviewed, per model) and counts; when served, the
// review column from the server.
const std::string& BatchScript();

}  // namespace medpipe::report
