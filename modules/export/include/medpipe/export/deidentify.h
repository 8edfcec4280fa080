#pragma once
// The de-identification stage of --deidentify for the DICOM objects medpipe writes (DICOM PS3.15
// Annex E, the Basic Application Level Confidentiality Profile): a series' identity is replaced
// before any writer sees it, so the SEG, RTSTRUCT and SR are written de-identified and verified as
// written. What result.json records is de-identified by medpipe/core/deidentification.h.
#include <string>

#include "medpipe/core/deidentification.h"
#include "medpipe/dicom/source_series.h"

namespace medpipe::exporter {

// SOURCE's header (dicom::SourceSeries::header) after the profile: patient and study
// identifiers emptied (Z), names, descriptions, institution and dates removed or replaced (X, D),
// every instance, series, study and frame-of-reference UID replaced (U), and Patient Identity
// Removed = YES with the profile's code (113100) added, which the writers copy into every object
// derived from it (with dummy dates of their own). Throws DicomError naming the series' first file when the header
// cannot be read or changed.
std::string DeidentifiedHeader(const dicom::SourceSeries& source);

// SERIES with the same UID replacements in it and every file's header, and its description and
// study dates gone: the references the writers make then point at the de-identified images.
dicom::Series DeidentifiedSeries(dicom::Series series);

}  // namespace medpipe::exporter
