#pragma once
// The study page's slice viewer: NiiVue (its browser bundle copied once per batch) on a review copy of
// each volume series and its label mask, carried in a script next to the page so that file:// works.
#include <filesystem>
#include <string>
#include <vector>

#include "study_results.h"

namespace medpipe::report {

// Where the study pages find the bundle, relative to OUTDIR/report/.
constexpr const char* kViewerBundle = "../viewer/niivue.js";

// Copies NiiVue's bundle to OUTDIR/viewer/niivue.js (left untouched when unchanged); false when this
// build has none (node_modules not installed: scripts/setup.sh), so the pages keep the static pictures.
bool InstallViewer(const std::filesystem::path& outdir);

// A series' viewer: its HTML, and the script carrying its review copy (a file name in OUTDIR/report/),
// empty when the series has none.
struct SeriesViewer {
  std::string html;
  std::string data_script;
};

// The viewer of SERIES: the volume or X-ray the pipeline recorded as "review_image"; over it each
// segmentation's mask as its own layer (legend with names, codes, laterality and volumes; toggle, opacity,
// per-label visibility; a colour taken by an earlier layer is replaced so two models' labels stay apart)
// and the first classifier's heat map (toggle, opacity, colour scale 0 to 1, finding, probability and
// threshold). Writes its data script; when the series has no review copy, empty; when the bundle is
// missing, a note in place of the viewer.
SeriesViewer WriteSeriesViewer(const std::filesystem::path& outdir, const Study& study, const SeriesResult& series,
                               bool installed);

// The script that starts every viewer on a page (allowed by its hash).
const std::string& ViewerScript();

}  // namespace medpipe::report
