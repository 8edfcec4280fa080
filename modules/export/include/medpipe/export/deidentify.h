#pragma once
// De-identification of what medpipe writes (--deidentify), after DICOM PS3.15 Annex E, the Basic
// Application Level Confidentiality Profile, for the attributes medpipe's SEG, SR and RTSTRUCT carry.
#include <filesystem>
#include <string>

namespace medpipe::exporter {

// The replacement for UID (the profile's action U): "2.25." and 128 bits of its SHA-256 as a
// decimal number. The same UID always maps to the same replacement, so references between outputs
// (SR to SEG, SEG to its series) and between runs still match; unsalted, so whoever holds the
// original UID can recompute it.
std::string DeidentifiedUid(const std::string& uid);

// Rewrites the DICOM file at PATH in place: patient and study identifiers emptied (Z), names,
// descriptions, institution and other dates removed or replaced (X, D), every instance, series,
// study and frame-of-reference UID replaced (U), and Patient Identity Removed = YES with the
// profile's code (113100) added. Throws DicomError naming PATH when it cannot be read or written.
void DeidentifyDicomFile(const std::filesystem::path& path);

}  // namespace medpipe::exporter
