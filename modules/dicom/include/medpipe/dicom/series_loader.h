#pragma once
// Turns an indexed series into a volume on a regular grid in LPS patient space.
#include "medpipe/core/volume.h"
#include "medpipe/dicom/series_index.h"

namespace medpipe::dicom {

// Decodes every slice of SERIES and places it by its position along the normal. Uneven slice gaps
// are equalised and gantry tilt is resampled away onto an orthogonal grid (as dcm2niix's _Tilt_Eq),
// both by linear interpolation. Throws DicomError for refused series and undecodable files.
// TIMINGS, when given, receives the wall-clock milliseconds of decoding (reading, parsing and
// decoding every file, in parallel) and of assembling the volume from the slices. ALLOCATE, when given,
// provides the buffer the slices decode into (a greyscale volume on an even grid keeps it).
struct LoadTimings {
  double decode_ms = 0, assemble_ms = 0;
};
Volume LoadSeries(const Series& series, LoadTimings* timings = nullptr, const VoxelAllocator& allocate = AllocateVoxels);

}  // namespace medpipe::dicom
