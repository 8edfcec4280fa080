#pragma once
// De-identification (--deidentify) after DICOM PS3.15 Annex E, the Basic Application Level
// Confidentiality Profile: the UID replacement every output shares, and what result.json records.
// The DICOM side (source headers and series before the writers see them) is medpipe/export/deidentify.h.
#include <string>

#include "medpipe/core/study_result.h"

namespace medpipe {

// The replacement for UID (the profile's action U): "2.25." and 128 bits of its SHA-256 as a
// decimal number. The same UID always maps to the same replacement, so references between outputs
// (SR to SEG, SEG to its series) and between runs still match; unsalted, so whoever holds the
// original UID can recompute it.
std::string DeidentifiedUid(const std::string& uid);

// RESULT as --deidentify records it: study and series UIDs replaced as in the DICOM outputs, input
// paths, descriptions, the study's date and accession number and split keys gone, and both scrubbed from every message (errors name the file
// they are about); marked "deidentified" with the profile's name.
void Deidentify(StudyResult& result);

}  // namespace medpipe
