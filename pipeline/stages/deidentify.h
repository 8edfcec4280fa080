#pragma once
// The de-identification stage (--deidentify), right after a series is loaded and before anything is
// written: the stages after it see a de-identified copy of the series' identity, so the SEG, RTSTRUCT
// and SR are written de-identified and verified as written. The study's result is de-identified
// before result.json is written (medpipe/core/deidentification.h).
#include <memory>

#include "medpipe/dicom/source_series.h"

namespace medpipe::cli {

// Points SOURCE at a de-identified copy of its series, which OWNER keeps, and de-identifies its
// header (medpipe/export/deidentify.h).
void DeidentifySource(dicom::SourceSeries& source, std::unique_ptr<dicom::Series>& owner);

}  // namespace medpipe::cli
