#pragma once
// The header pass in disposable processes: the process that indexes an archive never parses its
// files itself. Files go to child processes in chunks, read one after another in each (several
// processes at a time); a child that crashes, aborts, runs out of its address space or hangs on a file costs
// that file alone, which is reported with the reason, and a new child goes on with the rest.
#include "isolation/series_decoder.h"
#include "medpipe/dicom/archive_scanner.h"

namespace medpipe::cli {

// A header pass on LANES processes at a time, each under LIMITS (--decode-timeout per file,
// --max-decode-gib of added address space).
dicom::HeaderPass IsolatedHeaderPass(unsigned lanes, const DecodeLimits& limits);

}  // namespace medpipe::cli
