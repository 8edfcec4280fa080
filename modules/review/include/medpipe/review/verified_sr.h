#pragma once
// The SR a reviewer accepted, as it goes to a PACS: a copy marked complete and verified by them.
#include <filesystem>
#include <string>

namespace medpipe::review {

// Writes to TARGET a copy of the SR document at SOURCE with CompletionFlag COMPLETE, VerificationFlag
// VERIFIED and a VerifyingObserverSequence item (OBSERVER as a person name, ORGANIZATION, DATE_TIME as
// DICOM DT "YYYYMMDDHHMMSS+0000"), under a new SOP Instance UID (its content changed), with DCMTK's
// dcmsr; SOURCE is left as it is. Written atomically. Throws DicomError naming SOURCE when it is not an
// SR document dcmsr reads, IoError naming TARGET when it cannot be written.
void WriteVerifiedSr(const std::filesystem::path& source, const std::filesystem::path& target, const std::string& observer,
                     const std::string& organization, const std::string& date_time);

// "2026-12-07T15:21:02Z" as DICOM DT "20261207152102+0000"; empty when TIME is not in that form.
std::string DicomDateTime(const std::string& time);

}  // namespace medpipe::review
