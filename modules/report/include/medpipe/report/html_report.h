#pragma once
// The batch's review outputs, built from every study's result.json (docs/result-schema.json).
#include <cstddef>
#include <filesystem>

namespace medpipe::report {

// Reads every OUTDIR/studies/*/result.json (not hidden folders: those are staging) and writes
// OUTDIR/report.html and OUTDIR/report/<study_id>.html, self-contained (inline CSS, small inline
// scripts allowed by hash; nothing from the network; images by relative paths into
// studies/<study_id>/). report.html: counts (failed, flagged, unreviewed, series left out by design),
// cohort plots (inline SVG: each label's volumes across the batch with its 1.5 IQR fences and normal
// range, outliers flagged; each classifier's probability histogram with its threshold), filters
// (failed, flagged, unreviewed, per model) and a sortable row per study: thumbnail (its first
// overlay), id, status, series and skipped-series counts, a column per model with each label's volume
// (mL) or the classification's decision and probability, flags (problems, errors, fallbacks, missing
// overlays, outliers; skips are counted, not flagged), its review state (OUTDIR/review.jsonl) and a
// link to the study page, which shows every series with its overlays, numbers and problems, and the
// sign-off controls that `medpipe review` enables. All text from result.json is HTML-escaped; files
// are written atomically. Throws IoError naming a result.json that is not a medpipe result. Returns
// the number of studies listed.
size_t WriteHtmlReport(const std::filesystem::path& outdir);

// Writes OUTDIR/results.csv (RFC 4180, CRLF): a header, then per study, series and analysis a row
// study_id, study_instance_uid, series_id, modality, model, task, status (ok|skipped|failed),
// label_or_class, value (mL or probability), decision, reason, and for a label its surface_mm2,
// sphericity, centroid_{x,y,z}_mm and intensity_{unit,mean,std,min,max,p5,p25,median,p75,p95} (empty
// otherwise); a segmentation has one row per label,
// and a series that failed to load one row with an empty model, status failed and its error as
// reason. From the same reading of the results, OUTDIR/features.csv when any analysis has an
// embedding (--output-types features): a row per series and model with study_id,
// study_instance_uid, series_id, series_instance_uid, modality, model, dimension, then the vector
// f0, f1, ... (the header runs to the longest). Both written atomically. Returns the number of rows
// of results.csv after the header.
size_t WriteResultsCsv(const std::filesystem::path& outdir);

}  // namespace medpipe::report
